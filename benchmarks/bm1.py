"""BM1 at every configuration: irqcheck beside the hand-coded reference explorer.

    python benchmarks/bm1.py                 # every configuration of BM1.md
    python benchmarks/bm1.py --configs 2,4 3,3 --no-handcoded

Each run is a fresh process, so each peak memory is its own. Prints states,
transitions, depth, seconds, states/s, peak RSS and bytes per state, and checks
that both implementations report the same counts.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CONFIGS = [(1, 1), (1, 2), (1, 3), (2, 2), (2, 3), (2, 4), (3, 3), (3, 4)]


def run_irqcheck(C: int, P: int, timeout: float | None) -> dict:
    cmd = [sys.executable, "-m", "checker", "check", str(ROOT / "specs/bench/bm1.irq"),
           "--const", f"C={C}", "--const", f"P={P}", "--format", "json"]
    if timeout:
        cmd += ["--timeout", str(timeout)]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if p.returncode not in (0, 3):
        raise SystemExit(f"irqcheck failed on C={C} P={P}:\n{p.stderr}{p.stdout[:2000]}")
    data = json.loads(p.stdout)
    s = data["stats"]
    return {"states": s["states"], "transitions": s["transitions"], "depth": s["depth"],
            "seconds": s["seconds"], "rate": s["states_per_second"], "rss": s["peak_rss_mb"],
            "bps": s["bytes_per_state"], "complete": data["status"] == "complete",
            "verdict": data["verdict"]}


def run_handcoded(C: int, P: int) -> dict:
    cmd = [sys.executable, str(HERE / "bm1_handcoded.py"), "--C", str(C), "--P", str(P),
           "--json"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    data = json.loads(p.stdout)
    return {"states": data["states"], "transitions": data["transitions"],
            "depth": data["depth"], "seconds": data["seconds"],
            "rate": data["states_per_sec"], "rss": data["peak_rss_mb"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", nargs="*", metavar="C,P",
                    help="configurations to run (default: all of BM1.md)")
    ap.add_argument("--no-handcoded", action="store_true",
                    help="skip the hand-coded explorer (slow on the large configurations)")
    ap.add_argument("--handcoded-max", type=int, default=4_000_000, metavar="STATES",
                    help="skip the hand-coded explorer above this many states (default 4M)")
    ap.add_argument("--timeout", type=float, help="per-run timeout for irqcheck, seconds")
    args = ap.parse_args(argv)
    configs = [tuple(int(x) for x in c.split(",")) for c in args.configs] if args.configs \
        else CONFIGS
    print(f"{'C,P':>5} {'states':>11} {'transitions':>12} {'depth':>5} | "
          f"{'irqcheck s':>10} {'states/s':>9} {'MB':>6} {'B/state':>7} | "
          f"{'handcoded s':>11} {'states/s':>9} {'MB':>6} | {'counts':>6} {'speedup':>7}")
    ok = True
    for C, P in configs:
        r = run_irqcheck(C, P, args.timeout)
        line = (f"{C},{P:<3} {r['states']:>11,} {r['transitions']:>12,} {r['depth']:>5} | "
                f"{r['seconds']:>10.2f} {r['rate']:>9,} {r['rss']:>6.0f} "
                f"{(r['bps'] or 0):>7.0f} | ")
        if not r["complete"]:
            line += "(irqcheck stopped at --timeout)"
        elif args.no_handcoded or r["states"] > args.handcoded_max:
            line += f"{'-':>11} {'-':>9} {'-':>6} | {'-':>6} {'-':>7}"
        else:
            h = run_handcoded(C, P)
            same = (h["states"], h["transitions"], h["depth"]) == \
                (r["states"], r["transitions"], r["depth"])
            ok &= same
            line += (f"{h['seconds']:>11.2f} {h['rate']:>9,} {h['rss']:>6.0f} | "
                     f"{'equal' if same else 'DIFFER':>6} {h['seconds'] / r['seconds']:>6.1f}x")
        print(line, flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
