"""Counterexamples in the Informal Trace Format (ITF) of Apalache and Quint.

A trace is a JSON object: `#meta` (what irqcheck knows about it), `vars` (the
spec's variables), `states` (one object per state, each with its own `#meta`
naming the rule step that led to it) and, for a lasso, `loop`. Values: bool as
JSON true/false, int as a JSON number (`{"#bigint": "..."}` beyond 2^53), enum
member as its name (a string), set as `{"#set": [...]}` (sorted), array as
`{"#map": [[index, value], ...]}` (in index order), record as a JSON object.

The same module reads such a file back into IR values for `irqcheck replay`.
"""

from __future__ import annotations

import json

from checker import __version__, ir
from checker.result import PropertyResult, Result, Trace

FORMAT_URL = "https://apalache-mc.org/docs/adr/015adr-trace.html"
_SAFE = 2**53 - 1


class ItfError(Exception):
    """The file is not an ITF trace of this spec; the message says where and why."""


# ---------------------------------------------------------------- writing
def value(t: ir.Type, v):
    """An IR value as ITF JSON."""
    if isinstance(t, ir.BoolT):
        return bool(v)
    if isinstance(t, ir.IntT):
        return int(v) if -_SAFE <= v <= _SAFE else {"#bigint": str(v)}
    if isinstance(t, ir.EnumT):
        return t.members[v]
    if isinstance(t, (ir.SetT, ir.AnySetT)):
        return {"#set": sorted(int(x) for x in v)}
    if isinstance(t, ir.ArrayT):
        return {"#map": [[_index(t.index, i), value(t.elem, x)]
                         for i, x in zip(ir.domain_values(t.index), v)]}
    if isinstance(t, ir.RecordT):
        return {name: value(ft, x) for (name, ft), x in zip(t.fields, v)}
    raise TypeError(t)


def _index(t: ir.Type, i):
    if isinstance(t, ir.EnumT):
        return t.members[i]
    if isinstance(t, ir.BoolT):
        return bool(i)
    return int(i)


def trace_json(result: Result, prop: PropertyResult, trace: Trace | None = None) -> dict:
    """The ITF object of a property's trace."""
    trace = trace or prop.trace
    system = result.system
    states = []
    for i, step in enumerate(trace.steps):
        meta: dict = {"index": i}
        if step.rule is not None:
            meta.update({"action": step.label, "rule": step.rule,
                         "params": dict(step.params), "kvm": step.kvm,
                         "component": step.component})
        if i == len(trace.steps) - 1 and prop.faulty_step:
            meta["faulty"] = True  # the step hit a run-time error: the state is before it
        states.append({"#meta": meta, **{var.name: value(var.type, x)
                                         for var, x in zip(system.variables, step.state)
                                         if not var.symbolic}})
    # symbolic constants (--symbolic) are recorded as the constants Z3 chose, so that the
    # trace replays on the spec with those values
    chosen = {var.name: value(var.type, x)
              for var, x in zip(system.variables, trace.steps[0].state) if var.symbolic}
    out = {
        "#meta": {
            "format": "ITF",
            "format-description": FORMAT_URL,
            "source": system.file,
            "description": f"irqcheck {prop.kind} {prop.name}: {prop.verdict}",
            "irqcheck": __version__,
            "spec": result.spec,
            "constants": {**result.constants, **chosen},
            **({"symbolic": sorted(chosen)} if chosen else {}),
            "property": prop.name,
            "kind": prop.kind,
            "class": prop.pclass,
            "verdict": str(prop.verdict),
            "reason": prop.reason,
            "engine": result.engine,
            **({"params": {n: _param(system, prop.name, n, v) for n, v in prop.params}}
               if prop.params else {}),
        },
        "vars": [v.name for v in system.variables if not v.symbolic],
        "states": states,
    }
    if trace.loop is not None:
        out["loop"] = trace.loop
    return out


def _param(system: ir.System, prop: str, name: str, v):
    r = next(x for x in system.recoverables if x.name == prop)
    return value(dict(r.params)[name], v)


def dumps(obj: dict) -> str:
    return json.dumps(obj, indent=1) + "\n"


def file_name(prop: PropertyResult) -> str:
    return f"{prop.name}.itf.json"


# ---------------------------------------------------------------- reading
def read_value(t: ir.Type, j, where: str):
    """ITF JSON back into an IR value of type t (ItfError when it does not fit)."""
    def bad(what: str):
        return ItfError(f"{where}: {what} (expected {t})")

    if isinstance(t, ir.BoolT):
        if not isinstance(j, bool):
            raise bad(f"{json.dumps(j)[:40]} is not a bool")
        return j
    if isinstance(t, ir.IntT):
        if isinstance(j, dict) and "#bigint" in j:
            j = int(j["#bigint"])
        if isinstance(j, bool) or not isinstance(j, int):
            raise bad(f"{json.dumps(j)[:40]} is not an integer")
        if not t.lo <= j <= t.hi:
            raise bad(f"{j} is out of range")
        return j
    if isinstance(t, ir.EnumT):
        if j not in t.members:
            raise bad(f"{json.dumps(j)[:40]} is not a member")
        return t.members.index(j)
    if isinstance(t, ir.SetT):
        if not (isinstance(j, dict) and isinstance(j.get("#set"), list)):
            raise bad("not a {\"#set\": [...]}")
        out = frozenset(read_value(ir.IntT(t.lo, t.hi), x, where) for x in j["#set"])
        return out
    if isinstance(t, ir.ArrayT):
        if not (isinstance(j, dict) and isinstance(j.get("#map"), list)):
            raise bad("not a {\"#map\": [...]}")
        got = {}
        for pair in j["#map"]:
            if not (isinstance(pair, list) and len(pair) == 2):
                raise bad("a #map entry is not a [key, value] pair")
            got[json.dumps(pair[0])] = pair[1]
        out = []
        for i in ir.domain_values(t.index):
            k = json.dumps(_index(t.index, i))
            if k not in got:
                raise bad(f"index {k} is missing")
            out.append(read_value(t.elem, got[k], f"{where}[{json.loads(k)}]"))
        return tuple(out)
    if isinstance(t, ir.RecordT):
        if not isinstance(j, dict):
            raise bad("not a record object")
        return tuple(read_value(ft, j.get(n), f"{where}.{n}") for n, ft in t.fields)
    raise TypeError(t)


def read_trace(system: ir.System, data) -> tuple[list[tuple], list[dict], dict]:
    """(states as IR tuples, each state's #meta, the trace's #meta) of an ITF object."""
    if not isinstance(data, dict) or not isinstance(data.get("states"), list) \
            or not isinstance(data.get("vars"), list):
        raise ItfError("not an ITF trace: it needs \"vars\" and \"states\" lists")
    names = [v.name for v in system.variables]
    if sorted(data["vars"]) != sorted(names):
        missing = sorted(set(names) - set(data["vars"]))
        extra = sorted(set(data["vars"]) - set(names))
        raise ItfError("the trace's variables are not the spec's"
                       + (f"; missing: {', '.join(missing)}" if missing else "")
                       + (f"; not in the spec: {', '.join(extra)}" if extra else ""))
    states, metas = [], []
    for i, st in enumerate(data["states"]):
        if not isinstance(st, dict):
            raise ItfError(f"state {i}: not an object")
        vals = []
        for var in system.variables:
            if var.name not in st:
                raise ItfError(f"state {i}: variable '{var.name}' is missing")
            vals.append(read_value(var.type, st[var.name], f"state {i}: {var.name}"))
        states.append(tuple(vals))
        metas.append(st.get("#meta", {}) if isinstance(st.get("#meta", {}), dict) else {})
    return states, metas, data.get("#meta", {}) if isinstance(data.get("#meta"), dict) else {}
