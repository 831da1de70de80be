"""BM1 with the Z3 engine beside explicit search.

    python benchmarks/z3_bm1.py                   # (2,3) and (2,4)
    python benchmarks/z3_bm1.py --configs 2,3 --kind-bound 8

For each configuration: the time to prove every invariant and assert of BM1, and its
deadlock freedom, by exhaustive search (vector engine), by k-induction (k up to
--kind-bound; it may be inconclusive) and by IC3/PDR (Z3's Spacer); then, on BM1 with
its injected bug (BUG=1: inject_pending_event ignores the interrupt window), the time
to the shortest counterexample by exhaustive search and by bounded model checking
(--fail-fast).
Each run is a fresh process.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs/bench/bm1.irq"


def run(consts: list[str], *args: str) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "checker", "check", str(SPEC), "--format", "json",
           "--no-traces", *[x for c in consts for x in ("--const", c)], *args]
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t
    if p.returncode not in (0, 1, 3):
        raise SystemExit(f"failed: {' '.join(cmd)}\n{p.stderr}")
    return wall, json.loads(p.stdout)


def verdicts(data: dict) -> str:
    props = [p for p in data["properties"] if p["kind"] in ("invariant", "action", "deadlock")]
    held = sum(p["verdict"] == "holds" for p in props)
    return f"{held}/{len(props)} proved"


def shortest(data: dict) -> str:
    p = next(p for p in data["properties"] if p["name"] == "no_window_violation")
    return f"{p['verdict']}, {len(p['trace']) - 1 if p['trace'] else '-'} steps"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", nargs="*", default=["2,3", "2,4"], metavar="C,P")
    ap.add_argument("--kind-bound", type=int, default=8, metavar="K")
    ap.add_argument("--bmc-bound", type=int, default=30, metavar="K")
    args = ap.parse_args(argv)
    for conf in args.configs:
        c, p = conf.split(",")
        consts = [f"C={c}", f"P={p}"]
        print(f"BM1 ({c},{p})")
        t, d = run(consts, "--engine", "vector")
        print(f"  prove, exhaustive search   {t:8.2f} s  {verdicts(d)} "
              f"({d['stats']['states']:,} states)")
        t, d = run(consts, "--engine", "z3", "--prove", "--bmc", str(args.kind_bound))
        how = "k-induction" if d["engine"] == "z3-kind" else "k-induction, then PDR"
        print(f"  prove, {how:<19} {t:8.2f} s  {verdicts(d)}  ({d['notes'][0][:60]})")
        t, d = run(consts, "--engine", "z3", "--pdr")
        print(f"  prove, IC3/PDR             {t:8.2f} s  {verdicts(d)}")
        bug = consts + ["BUG=1"]
        t, d = run(bug, "--engine", "vector", "--fail-fast")
        print(f"  bug, exhaustive search     {t:8.2f} s  {shortest(d)}")
        t, d = run(bug, "--engine", "z3", "--bmc", str(args.bmc_bound), "--fail-fast")
        print(f"  bug, bounded (BMC)         {t:8.2f} s  {shortest(d)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
