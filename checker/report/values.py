"""States as named leaves ('line[0]', 'lapic[1].irr') for display and JSON."""

from __future__ import annotations

from checker import ir


def _index_label(t: ir.Type, v) -> str:
    if isinstance(t, ir.EnumT):
        return t.members[v]
    if isinstance(t, ir.BoolT):
        return "true" if v else "false"
    return str(v)


def _flatten(name: str, t: ir.Type, v, out: list) -> None:
    if isinstance(t, ir.ArrayT):
        for i, x in zip(ir.domain_values(t.index), v):
            _flatten(f"{name}[{_index_label(t.index, i)}]", t.elem, x, out)
    elif isinstance(t, ir.RecordT):
        for (fname, ft), x in zip(t.fields, v):
            _flatten(f"{name}.{fname}", ft, x, out)
    else:
        out.append((name, ir.format_value(t, v)))


def leaves(system: ir.System, state: tuple) -> list[tuple[str, str]]:
    """[(leaf name, value as the spec writes it)] in declaration order."""
    out: list[tuple[str, str]] = []
    for var, value in zip(system.variables, state):
        if var.instance_array:
            comp, _, member = var.name.partition(".")
            for i, x in zip(ir.domain_values(var.type.index), value):
                _flatten(f"{comp}[{_index_label(var.type.index, i)}].{member}", var.type.elem,
                         x, out)
        else:
            _flatten(var.name, var.type, value, out)
    return out


def changes(system: ir.System, before: tuple | None, after: tuple) -> list[tuple[str, str]]:
    """The leaves whose value differs between two states (all leaves when before is None)."""
    new = leaves(system, after)
    if before is None:
        return new
    old = dict(leaves(system, before))
    return [(n, v) for n, v in new if old.get(n) != v]


def state_json(system: ir.System, state: tuple) -> dict:
    return {var.name: ir.json_value(var.type, v) for var, v in zip(system.variables, state)}


def component_of_leaves(system: ir.System) -> dict[str, str]:
    """Leaf-name prefix -> component instance ('lapic[1]', 'ioapic') for the variables of
    components."""
    out = {}
    for var in system.variables:
        if var.component is None:
            continue
        comp, _, _member = var.name.partition(".")
        if var.instance_array:
            for i in ir.domain_values(var.type.index):
                out[f"{comp}[{_index_label(var.type.index, i)}]"] = \
                    f"{comp}[{_index_label(var.type.index, i)}]"
        else:
            out[comp] = comp
    return out


def grouped_changes(system: ir.System, diff: list[tuple[str, str]]) -> str:
    """Changed leaves as text, those of a component instance grouped under its name:
    'line[0]=true  ioapic: irr={0}  lapic[1]: irr={48} isr={}'."""
    comps = component_of_leaves(system)
    plain, groups = [], {}
    for name, value in diff:
        head, _, rest = name.partition(".")
        if rest and head in comps:
            groups.setdefault(comps[head], []).append(f"{rest}={value}")
        else:
            plain.append(f"{name}={value}")
    parts = [" ".join(plain)] if plain else []
    parts += [f"{c}: {' '.join(items)}" for c, items in groups.items()]
    return "  ".join(parts)
