"""The machine-readable report (--format json)."""

from __future__ import annotations

import json

from checker.report.values import changes, state_json
from checker.result import Result, Trace


def trace_json(result: Result, trace: Trace) -> list[dict]:
    out, before = [], None
    for i, step in enumerate(trace.steps):
        out.append({
            "step": i,
            "rule": step.rule,
            "label": step.label,
            "params": dict(step.params),
            "kvm": step.kvm,
            "component": step.component,
            "changes": dict(changes(result.system, before, step.state)),
            "state": state_json(result.system, step.state),
        })
        before = step.state
    return out


def result_json(result: Result, timing: bool = True) -> dict:
    s = result.stats
    stats = {"states": s.states, "transitions": s.transitions, "depth": s.depth}
    if timing:
        stats.update({
            "seconds": round(s.seconds, 4),
            "compile_seconds": round(s.compile_seconds, 4),
            "states_per_second": round(s.states_per_second),
            "peak_rss_mb": round(s.peak_rss_mb, 1),
            "bytes_per_state": round(s.bytes_per_state, 1) if s.bytes_per_state else None,
        })
        if s.load_factor is not None:
            stats.update({"visited_mb": round(s.visited_mb, 1),
                          "load_factor": round(s.load_factor, 3)})
    return {
        "spec": result.spec,
        "file": result.system.file,
        "engine": result.engine,
        "constants": result.constants,
        "status": result.status.value,
        "verdict": str(result.verdict),
        "message": result.message,
        "properties": [
            {
                "name": p.name,
                "kind": p.kind,
                "class": p.pclass,
                "verdict": str(p.verdict),
                "reason": p.reason,
                "trace": trace_json(result, p.trace) if p.trace else None,
            }
            for p in result.properties
        ],
        "stats": stats,
        "notes": list(result.notes),
        "traces": list(result.traces),
        **({"profile": [{k: v for k, v in row.items() if timing or k != "seconds"}
                        for row in result.profile]} if result.profile is not None else {}),
    }


def render_json(result: Result, timing: bool = True) -> str:
    return json.dumps(result_json(result, timing), indent=2) + "\n"
