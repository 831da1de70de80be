"""irqcheck: a model checker for interrupt delivery in KVM x86."""

__version__ = "0.1.0"
