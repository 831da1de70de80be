"""The real KVM of this machine, driven through /dev/kvm ioctls (standard library only).

`Machine` is one VM whose vCPUs run a real-mode command interpreter, stepped from the host;
`checker.kvm.scenarios` runs the 18 acceptance scenarios on it. See docs/conformance.md.
"""

from .machine import (
    CpuSnap,
    Delivery,
    KvmUnavailable,
    Machine,
    Redir,
    Snapshot,
    availability,
    detect_backend,
    redir_low,
)

__all__ = [
    "CpuSnap",
    "Delivery",
    "KvmUnavailable",
    "Machine",
    "Redir",
    "Snapshot",
    "availability",
    "detect_backend",
    "redir_low",
]
