"""Hand-coded explicit-state explorer of BM1 (KVM x86 interrupt delivery).

This is the *independent* reference implementation that irqcheck's state
counts are tested against.  It is written directly from
/work/shared/benchmarks/BM1.md, in plain Python, with no DSL and no
dependency beyond the standard library.  It favours being obviously right
over being fast.

Results (exhaustive BFS; Python 3.11, one core; every property holds and
there are no deadlocks in every configuration; peak RSS per configuration;
(3,4) ran partly alongside another CPU-bound job, so its time is pessimistic):

     C  P     states  transitions depth   seconds   RSS MB
     1  1        216          634    15      0.00     15.6
     1  2       1624         5604    22      0.01     15.9
     1  3      32048       147844    33      0.34     22.5
     2  2      14688        75944    25      0.18     18.3
     2  3     342176      2169200    36      5.43     88.0
     2  4    2566320     17718216    40     47.24    596.3
     3  3    3172608     25716096    40     63.20    633.7
     3  4   23853312    205644608    47    608.72   4724.6

The counts for (1,1) .. (3,3) were also reproduced by a separate throwaway
re-implementation (flat int tuples, bitmask sets); (3,4) was not.

State representation
--------------------
A state is a tuple of 14 per-variable rows, in the order of BM1.md's state
tables (see VARS below).  Per-pin rows are tuples of length P, per-vCPU rows
tuples of length C.  The sets lirr[c] and isr[c] are frozensets of pin
numbers.  To compute a successor the state is "thawed" into a list of its
rows, the rule's updates `var[i] := value` are applied with put() in the
order written in BM1.md (each seeing the previous ones; put() replaces the
row by a modified copy and never mutates a row), and the list is "frozen"
back into a tuple.  Rows are interned (equal rows share one object), which
only saves memory.

Rule-instance order
-------------------
Rule instances are enumerated rule-major, in the order of BM1.md's rule
table, each rule for its index ascending:

    raise(p), lower(p), toggle_mask(p)              for p = 0 .. P-1
    enter(c), deliver(c), exit(c), window_exit(c),
    ack(c), eoi(c), iret(c), cli(c), sti(c), step(c) for c = 0 .. C-1

i.e. raise(0), raise(1), ..., lower(0), ..., step(C-1).  The counts reported
do not depend on this order.

Counting
--------
* states: number of distinct reachable states (initial state included).
* transitions: number of enabled rule instances summed over all reachable
  states (self-loops and firings into already-seen states count too).
* depth: maximum BFS depth; the initial state has depth 0.
* deadlocks: number of reachable states in which no rule instance is enabled.
* violations: for each property, how many times it was violated (for the
  action properties: how many firings of enter(c) case 2 violated it; for
  the invariants: how many reachable states violated it).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections import deque

# ---------------------------------------------------------------------------
# State layout: index of each variable inside a state tuple.
# ---------------------------------------------------------------------------

# per pin p (tuples of length P)
LINE, PIRR, RIRR, MASK, WANT = 0, 1, 2, 3, 4
# per vCPU c (tuples of length C)
LIRR, ISR, HOST, IFL, STI, INJ, WIN, HDL, PH = 5, 6, 7, 8, 9, 10, 11, 12, 13

VARS = (
    "line",
    "pirr",
    "rirr",
    "mask",
    "want",
    "lirr",
    "isr",
    "host",
    "ifl",
    "sti",
    "inj",
    "win",
    "hdl",
    "ph",
)

PROPERTIES = (
    "no_window_violation",
    "no_duplicate",
    "single_in_service",
    "remote_irr_in_flight",
)

CONFIGS = ((1, 1), (1, 2), (1, 3), (2, 2), (2, 3), (2, 4), (3, 3), (3, 4))

EMPTY = frozenset()


def top(pins: frozenset) -> int:
    """Highest pin in the set, or -1 when the set is empty."""
    return max(pins) if pins else -1


def edge(p: int) -> bool:
    return p % 2 == 0


def level(p: int) -> bool:
    return p % 2 == 1


class BM1:
    """The BM1 model for C vCPUs and P IOAPIC pins."""

    def __init__(self, C: int, P: int) -> None:
        if C < 1 or P < 1:
            raise ValueError("need C >= 1 and P >= 1")
        self.C = C
        self.P = P
        self._intern: dict[tuple, tuple] = {}

    # -- helpers ------------------------------------------------------------

    def dest(self, p: int) -> int:
        return p % self.C

    def intern(self, row: tuple) -> tuple:
        """Return the shared copy of an equal row (saves memory only)."""
        return self._intern.setdefault(row, row)

    @staticmethod
    def thaw(s: tuple) -> list[tuple]:
        """State -> mutable working copy: a list of the (immutable) rows of s.

        Rows are only ever replaced through put(), never mutated, so the
        working copy never changes s.
        """
        return list(s)

    def put(self, m: list[tuple], var: int, i: int, value) -> None:
        """The update var[i] := value on the working copy m."""
        row = list(m[var])
        row[i] = value
        m[var] = self.intern(tuple(row))

    @staticmethod
    def freeze(m: list[tuple]) -> tuple:
        """Working copy -> state."""
        return tuple(m)

    def initial(self) -> tuple:
        C, P = self.C, self.P
        rows = [None] * len(VARS)
        rows[LINE] = (False,) * P
        rows[PIRR] = (False,) * P
        rows[RIRR] = (False,) * P
        rows[MASK] = (False,) * P
        rows[WANT] = (False,) * P
        rows[LIRR] = (EMPTY,) * C
        rows[ISR] = (EMPTY,) * C
        rows[HOST] = (True,) * C
        rows[IFL] = (True,) * C
        rows[STI] = (False,) * C
        rows[INJ] = (0,) * C
        rows[WIN] = (False,) * C
        rows[HDL] = (0,) * C
        rows[PH] = (0,) * C
        return tuple(self.intern(r) for r in rows)

    @staticmethod
    def G(s, c: int) -> bool:
        """The vCPU executes guest instructions: not host[c] and inj[c] = 0."""
        return (not s[HOST][c]) and s[INJ][c] == 0

    @staticmethod
    def allowed(s, c: int) -> bool:
        return s[IFL][c] and not s[STI][c]

    @staticmethod
    def deliverable(s, c: int) -> int | None:
        """Highest pin p in lirr[c] with p > top(isr[c]); None if there is none."""
        t = top(s[ISR][c])
        higher = [p for p in s[LIRR][c] if p > t]
        return max(higher) if higher else None

    def service(self, m: list[tuple], p: int) -> None:
        """ioapic_service(p), applied in place to the mutable state m."""
        if m[PIRR][p] and not m[MASK][p] and not (level(p) and m[RIRR][p]):
            d = self.dest(p)
            self.put(m, LIRR, d, m[LIRR][d] | {p})
            if edge(p):
                self.put(m, PIRR, p, False)
            else:
                self.put(m, RIRR, p, True)

    # -- invariants -----------------------------------------------------------

    def check_invariants(self, s: tuple) -> list[str]:
        """Names of the invariants violated by state s."""
        bad = []
        if any(len(s[ISR][c]) > 1 for c in range(self.C)):
            bad.append("single_in_service")
        for p in range(self.P):
            if level(p) and s[RIRR][p]:
                d = self.dest(p)
                if p not in s[LIRR][d] and p not in s[ISR][d]:
                    bad.append("remote_irr_in_flight")
                    break
        return bad

    # -- rules ----------------------------------------------------------------

    def successors(self, s: tuple) -> list[tuple[str, tuple, list[str]]]:
        """All enabled rule instances of state s, in rule-table order.

        Returns a list of (label, next_state, violated_action_properties).
        """
        C, P = self.C, self.P
        out: list[tuple[str, tuple, list[str]]] = []

        def fire(label: str, m: list[tuple], bad: list[str] | None = None) -> None:
            out.append((label, self.freeze(m), bad or []))

        # raise(p): not line[p]
        for p in range(P):
            if not s[LINE][p]:
                m = self.thaw(s)
                self.put(m, LINE, p, True)
                self.put(m, WANT, p, True)
                self.put(m, PIRR, p, True)
                self.service(m, p)
                fire(f"raise({p})", m)

        # lower(p): line[p] and edge(p)
        for p in range(P):
            if s[LINE][p] and edge(p):
                m = self.thaw(s)
                self.put(m, LINE, p, False)
                self.put(m, PIRR, p, False)
                fire(f"lower({p})", m)

        # toggle_mask(p): G(dest(p)) and hdl[dest(p)] = 0
        for p in range(P):
            d = self.dest(p)
            if self.G(s, d) and s[HDL][d] == 0:
                m = self.thaw(s)
                self.put(m, MASK, p, not m[MASK][p])
                if not m[MASK][p] and level(p) and m[PIRR][p]:
                    self.service(m, p)
                fire(f"toggle_mask({p})", m)

        # enter(c): host[c]
        for c in range(C):
            if s[HOST][c]:
                m = self.thaw(s)
                bad: list[str] = []
                if m[INJ][c] != 0:
                    # case 1: an event is still queued
                    self.put(m, WIN, c, False)
                else:
                    p = self.deliverable(m, c)
                    if p is not None and self.allowed(m, c):
                        # case 2: acknowledge p and queue it for injection.
                        # Action properties are checked in the pre-state.
                        if not self.allowed(s, c):
                            bad.append("no_window_violation")
                        if not s[WANT][p]:
                            bad.append("no_duplicate")
                        self.put(m, LIRR, c, m[LIRR][c] - {p})
                        self.put(m, ISR, c, m[ISR][c] | {p})
                        self.put(m, INJ, c, p + 1)
                        self.put(m, WANT, p, False)
                        self.put(m, WIN, c, False)
                    elif p is not None:
                        # case 3: deliverable but interrupts not allowed
                        self.put(m, WIN, c, True)
                    # case 4: nothing deliverable: win[c] unchanged
                self.put(m, HOST, c, False)  # in all four cases
                fire(f"enter({c})", m, bad)

        # deliver(c): not host[c] and inj[c] != 0
        for c in range(C):
            if not s[HOST][c] and s[INJ][c] != 0:
                m = self.thaw(s)
                self.put(m, HDL, c, m[INJ][c])
                self.put(m, PH, c, 0)
                self.put(m, INJ, c, 0)
                self.put(m, IFL, c, False)
                self.put(m, STI, c, False)
                fire(f"deliver({c})", m)

        # exit(c): not host[c]
        for c in range(C):
            if not s[HOST][c]:
                m = self.thaw(s)
                self.put(m, HOST, c, True)
                fire(f"exit({c})", m)

        # window_exit(c): G(c) and win[c] and allowed(c)
        for c in range(C):
            if self.G(s, c) and s[WIN][c] and self.allowed(s, c):
                m = self.thaw(s)
                self.put(m, HOST, c, True)
                self.put(m, WIN, c, False)
                fire(f"window_exit({c})", m)

        # ack(c): G(c) and hdl[c] != 0 and ph[c] = 0
        for c in range(C):
            if self.G(s, c) and s[HDL][c] != 0 and s[PH][c] == 0:
                m = self.thaw(s)
                p = m[HDL][c] - 1
                if level(p):
                    self.put(m, LINE, p, False)
                    self.put(m, PIRR, p, False)
                self.put(m, PH, c, 1)
                fire(f"ack({c})", m)

        # eoi(c): G(c) and hdl[c] != 0 and ph[c] = 1
        for c in range(C):
            if self.G(s, c) and s[HDL][c] != 0 and s[PH][c] == 1:
                m = self.thaw(s)
                if m[ISR][c]:
                    q = top(m[ISR][c])
                    self.put(m, ISR, c, m[ISR][c] - {q})
                    if level(q):
                        self.put(m, RIRR, q, False)
                        self.service(m, q)
                self.put(m, PH, c, 2)
                fire(f"eoi({c})", m)

        # iret(c): G(c) and hdl[c] != 0 and ph[c] = 2
        for c in range(C):
            if self.G(s, c) and s[HDL][c] != 0 and s[PH][c] == 2:
                m = self.thaw(s)
                self.put(m, HDL, c, 0)
                self.put(m, PH, c, 0)
                self.put(m, IFL, c, True)
                fire(f"iret({c})", m)

        # cli(c): G(c) and hdl[c] = 0 and ifl[c]
        for c in range(C):
            if self.G(s, c) and s[HDL][c] == 0 and s[IFL][c]:
                m = self.thaw(s)
                self.put(m, IFL, c, False)
                self.put(m, STI, c, False)
                fire(f"cli({c})", m)

        # sti(c): G(c) and hdl[c] = 0 and not ifl[c]
        for c in range(C):
            if self.G(s, c) and s[HDL][c] == 0 and not s[IFL][c]:
                m = self.thaw(s)
                self.put(m, IFL, c, True)
                self.put(m, STI, c, True)
                fire(f"sti({c})", m)

        # step(c): G(c) and sti[c]
        for c in range(C):
            if self.G(s, c) and s[STI][c]:
                m = self.thaw(s)
                self.put(m, STI, c, False)
                fire(f"step({c})", m)

        return out


def describe(s: tuple) -> str:
    """Readable rendering of a state."""
    parts = []
    for name, values in zip(VARS, s):
        shown = [sorted(v) if isinstance(v, frozenset) else v for v in values]
        parts.append(f"{name}={shown}")
    return " ".join(parts)


def explore(C: int, P: int, max_states: int | None = None) -> dict:
    """Exhaustive BFS of BM1(C, P) from the initial state.

    Returns {"states", "transitions", "depth", "violations", "deadlocks",
    "complete", "first_violation", "C", "P"}.  violations maps every
    property name to its violation count (0 = holds); first_violation maps
    each violated property to a description of the first violation found.
    If max_states is given and reached, exploration stops early and
    "complete" is False (the counts are then partial).
    """
    model = BM1(C, P)
    init = model.initial()
    seen = {init}
    frontier = deque([init])
    depth = 0
    transitions = 0
    deadlocks = 0
    violations = {name: 0 for name in PROPERTIES}
    first: dict[str, str] = {}
    complete = True

    def record(name: str, what: str) -> None:
        violations[name] += 1
        first.setdefault(name, what)

    while frontier:
        next_frontier: deque = deque()
        for s in frontier:
            for name in model.check_invariants(s):
                record(name, f"state at depth {depth}: {describe(s)}")
            succs = model.successors(s)
            if not succs:
                deadlocks += 1
                first.setdefault("no_deadlock", f"state at depth {depth}: {describe(s)}")
            for label, t, bad in succs:
                transitions += 1
                for name in bad:
                    record(name, f"{label} at depth {depth} from {describe(s)}")
                if t not in seen:
                    if max_states is not None and len(seen) >= max_states:
                        complete = False
                        continue
                    seen.add(t)
                    next_frontier.append(t)
        if not next_frontier:
            break
        frontier = next_frontier
        depth += 1
        if not complete:
            break

    return {
        "C": C,
        "P": P,
        "states": len(seen),
        "transitions": transitions,
        "depth": depth,
        "violations": violations,
        "deadlocks": deadlocks,
        "complete": complete,
        "first_violation": first,
    }


def peak_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    if sys.platform == "darwin":  # bytes on macOS
        kb /= 1024
    return kb / 1024


def run(C: int, P: int, max_states: int | None = None) -> dict:
    t0 = time.perf_counter()
    res = explore(C, P, max_states)
    secs = time.perf_counter() - t0
    res["seconds"] = round(secs, 3)
    res["states_per_sec"] = round(res["states"] / secs) if secs > 0 else None
    res["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return res


def verdicts(res: dict) -> dict[str, str]:
    v = {name: ("holds" if n == 0 else f"VIOLATED ({n})") for name, n in res["violations"].items()}
    v["no_deadlock"] = "holds" if res["deadlocks"] == 0 else f"VIOLATED ({res['deadlocks']})"
    if not res["complete"]:
        v = {k: x + " (partial: max_states reached)" for k, x in v.items()}
    return v


def print_one(res: dict) -> None:
    print(f"BM1 C={res['C']} P={res['P']}" + ("" if res["complete"] else " (INCOMPLETE)"))
    print(f"  states       {res['states']}")
    print(f"  transitions  {res['transitions']}")
    print(f"  depth        {res['depth']}")
    print(f"  seconds      {res['seconds']:.3f}")
    print(f"  states/s     {res['states_per_sec']}")
    print(f"  peak RSS MB  {res['peak_rss_mb']:.1f}")
    for name, verdict in verdicts(res).items():
        print(f"  {name:22s} {verdict}")
    for name, what in res["first_violation"].items():
        print(f"  first {name}: {what}")


def print_table(results: list[dict], header: bool = True) -> None:
    title = (
        f"{'C':>2} {'P':>2} {'states':>10} {'transitions':>12} {'depth':>5} "
        f"{'seconds':>9} {'states/s':>9} {'RSS MB':>8}  properties"
    )
    if header:
        print(title)
    for r in results:
        ok = all(n == 0 for n in r["violations"].values()) and r["deadlocks"] == 0
        verdict = "all hold" if ok else "VIOLATION"
        if not r["complete"]:
            verdict += " (incomplete)"
        print(
            f"{r['C']:>2} {r['P']:>2} {r['states']:>10} {r['transitions']:>12} {r['depth']:>5} "
            f"{r['seconds']:>9.2f} {r['states_per_sec']:>9} {r['peak_rss_mb']:>8.1f}  {verdict}"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Hand-coded explicit-state explorer of BM1.")
    ap.add_argument("--C", type=int, default=2, help="number of vCPUs (default 2)")
    ap.add_argument("--P", type=int, default=3, help="number of IOAPIC pins (default 3)")
    ap.add_argument("--all", action="store_true", help="run every configuration of BM1.md")
    ap.add_argument("--max-states", type=int, default=None, help="stop after this many states")
    ap.add_argument("--json", action="store_true", help="machine-readable output")
    args = ap.parse_args(argv)

    if args.all:
        # Each configuration runs in a fresh interpreter so that its peak RSS
        # is its own and not the maximum over the configurations before it.
        results = []
        for C, P in CONFIGS:
            cmd = [sys.executable, __file__, "--C", str(C), "--P", str(P), "--json"]
            if args.max_states is not None:
                cmd += ["--max-states", str(args.max_states)]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if not proc.stdout.strip():
                sys.stderr.write(proc.stderr)
                return 2
            results.append(json.loads(proc.stdout))
            if not args.json:
                print_table(results[-1:], header=len(results) == 1)
                sys.stdout.flush()
        if args.json:
            print(json.dumps(results, indent=2))
    else:
        res = run(args.C, args.P, args.max_states)
        results = [res]
        if args.json:
            print(json.dumps(res, indent=2))
        else:
            print_one(res)
    bad = any(
        any(n for n in r["violations"].values()) or r["deadlocks"] or not r["complete"]
        for r in results
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
