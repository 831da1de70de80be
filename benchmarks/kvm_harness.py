"""Speed of the KVM harness (checker/kvm): guest steps, snapshots and scenarios per second.

    python benchmarks/kvm_harness.py [--seconds S]

Measures, each for about S seconds (default 1):
  steps/s          Machine.step(0, "nop"): one KVM_RUN round trip through the parked IN
  snapshots/s      Machine.snapshot() of a 1-vCPU machine (LAPIC, regs, events, mp_state, IOAPIC)
  scenarios/s      a short scenario (edge once: program a pin, sti, raise/lower, 3 steps,
                   snapshot) on one VM, with reset() before each
  fresh VMs/s      the same scenario on a new Machine each time (create + close)
  acceptance/s     the 18 acceptance scenarios (checker.kvm.scenarios.run_all), whole suite;
                   it includes HLT timeouts (20 ms each) on purpose
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from checker.kvm import Machine, availability, detect_backend  # noqa: E402
from checker.kvm.scenarios import run_all  # noqa: E402


def rate(fn, seconds: float) -> tuple[float, int]:
    """Calls of fn per second over about `seconds` (after one warm-up call)."""
    fn()
    n, start = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n / elapsed, n


def edge_once(m: Machine) -> None:
    m.set_redir(16, 0x40)
    m.step(0, "sti")
    m.irq_line(16, 1)
    m.irq_line(16, 0)
    for _ in range(3):
        m.step(0, "nop")
    m.snapshot()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=1.0)
    args = ap.parse_args()
    reason = availability()
    if reason is not None:
        print(f"KVM unavailable: {reason}", file=sys.stderr)
        return 2
    print(f"backend {detect_backend()}")
    with Machine(1) as m:
        rows = [
            ("steps/s", rate(lambda: m.step(0, "nop"), args.seconds)),
            ("snapshots/s", rate(m.snapshot, args.seconds)),
            ("scenarios/s (reset)", rate(lambda: (m.reset(), edge_once(m)), args.seconds)),
        ]

    def fresh() -> None:
        with Machine(1) as f:
            edge_once(f)

    rows.append(("scenarios/s (fresh VM)", rate(fresh, args.seconds)))
    rows.append(("acceptance suites/s", rate(run_all, args.seconds)))
    for name, (per_s, n) in rows:
        print(f"{name:<24} {per_s:>10,.1f}   ({n} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
