"""The four interrupt properties, first-class.

Models mark where an interrupt's life happens with event statements; a spec's
`check lost, duplicated, window, priority` turns them into ghost state and the
engine's generic properties:

    request(v, c)                 a device raised vector v toward vCPU c
    acknowledge(v, c[, irr, floor]) v moved from IRR to ISR (kvm_cpu_get_interrupt);
                                  irr: the IRR before, floor: only vectors > floor may go
    deliver(v, c)                 the guest starts the handler of v on c
    inject(v, c, interruptible)   a new interrupt is written to the VM-entry
                                  interruption information (vmx_inject_irq)

lost        AG (v in requested[c] => EF v not in requested[c]): a request can always
            still be delivered (recoverable property `no_lost_interrupt`).
duplicated  every acknowledge follows a request raised since the last acknowledge of v
            on c, and every deliver follows an acknowledge not yet delivered
            (action property `no_duplicate`).
window      every inject happens while the guest is interruptible (`no_window_violation`).
priority    every acknowledge takes the highest vector of IRR, above the floor
            (`priority_order`).

Ghost variables (`ghost.requested`, `ghost.raised`, `ghost.acked`) exist only for the
classes the spec checks, so a class not checked costs no states.
"""

from __future__ import annotations

from dataclasses import dataclass

from checker import ir

EVENTS = {"request": (2, 2), "acknowledge": (2, 4), "deliver": (2, 2), "inject": (3, 3)}

PROPERTY_NAMES = {"lost": "no_lost_interrupt", "duplicated": "no_duplicate",
                  "window": "no_window_violation", "priority": "priority_order"}


@dataclass(frozen=True)
class EventStmt(ir.Stmt):
    """An event statement before expansion (the ghost types are known only at the end)."""

    kind: str
    args: tuple[ir.Expr, ...]
    rule: str = ""


@dataclass
class Ghosts:
    vec: ir.IntT
    cpu: ir.IntT
    classes: frozenset[str]
    uses_ack: bool
    var_ids: dict  # ghost name -> variable index

    def ref(self, name: str, c: ir.Expr) -> ir.Expr:
        st = ir.SetT(self.vec.lo, self.vec.hi)
        arr = ir.VarRef(ir.ArrayT(self.cpu, st), self.var_ids[name])
        return ir.Index(st, arr, c)


def ghost_variables(sites: list[EventStmt], classes: frozenset[str], first_index: int):
    """(Ghosts, the ghost variables) for the event sites of a system, or (None, [])."""
    if not classes or not sites:
        return None, []
    vlo = min(s.args[0].type.lo for s in sites)
    vhi = max(s.args[0].type.hi for s in sites)
    clo = min(s.args[1].type.lo for s in sites)
    chi = max(s.args[1].type.hi for s in sites)
    vec, cpu = ir.IntT(vlo, vhi), ir.IntT(clo, chi)
    uses_ack = any(s.kind == "acknowledge" for s in sites)
    names = []
    if "lost" in classes:
        names.append("requested")
    if "duplicated" in classes:
        names += ["raised"] + (["acked"] if uses_ack else [])
    st = ir.SetT(vec.lo, vec.hi)
    variables, ids = [], {}
    for n in names:
        ids[n] = first_index + len(variables)
        variables.append(ir.Variable(f"ghost.{n}", ir.ArrayT(cpu, st),
                                     tuple(frozenset() for _ in ir.domain_values(cpu)), "ghost"))
    return Ghosts(vec, cpu, classes, uses_ack, ids), variables


def _in(v: ir.Expr, s: ir.Expr) -> ir.Expr:
    return ir.Binary(ir.BOOL, "in", v, s)


def _update(g: Ghosts, name: str, op: str, v: ir.Expr, c: ir.Expr, span) -> ir.Stmt:
    target = g.ref(name, c)
    lit = ir.SetLit(target.type, (v,), span=span)
    return ir.Assign(target, ir.Binary(target.type, op, target, lit), span=span)


def expand(s: EventStmt, g: Ghosts | None) -> list[ir.Stmt]:
    """The ghost updates and asserts of one event statement."""
    if g is None:
        return []
    v, c = s.args[0], s.args[1]
    out: list[ir.Stmt] = []
    cls = g.classes
    if s.kind == "request":
        if "lost" in cls:
            out.append(_update(g, "requested", "union", v, c, s.span))
        if "duplicated" in cls:
            out.append(_update(g, "raised", "union", v, c, s.span))
    elif s.kind == "acknowledge":
        if "priority" in cls and len(s.args) == 4:
            irr, floor = s.args[2], s.args[3]
            top = ir.Builtin(ir.IntT(irr.type.lo - 1, irr.type.hi), "max", (irr,))
            ok = ir.Binary(ir.BOOL, "and", ir.Binary(ir.BOOL, "==", v, top),
                           ir.Binary(ir.BOOL, ">", v, floor))
            out.append(ir.Assert(PROPERTY_NAMES["priority"], ok, span=s.span))
        if "duplicated" in cls:
            out.append(ir.Assert(PROPERTY_NAMES["duplicated"], _in(v, g.ref("raised", c)),
                                 span=s.span))
            out.append(_update(g, "raised", "diff", v, c, s.span))
            out.append(_update(g, "acked", "union", v, c, s.span))
    elif s.kind == "deliver":
        if "duplicated" in cls:
            name = "acked" if g.uses_ack else "raised"
            out.append(ir.Assert(PROPERTY_NAMES["duplicated"], _in(v, g.ref(name, c)),
                                 span=s.span))
            out.append(_update(g, name, "diff", v, c, s.span))
        if "lost" in cls:
            out.append(_update(g, "requested", "diff", v, c, s.span))
    elif s.kind == "inject":
        if "window" in cls:
            out.append(ir.Assert(PROPERTY_NAMES["window"], s.args[2], span=s.span))
    return out


def expand_all(stmts, g: Ghosts | None):
    """Rule bodies with every EventStmt expanded (recursively into if and for)."""
    out = []
    for s in stmts:
        if isinstance(s, EventStmt):
            out += expand(s, g)
        elif isinstance(s, ir.If):
            out.append(ir.If(s.cond, tuple(expand_all(s.then, g)), tuple(expand_all(s.els, g)),
                             span=s.span))
        elif isinstance(s, ir.For):
            out.append(ir.For(s.var, s.domain, tuple(expand_all(s.body, g)), span=s.span))
        else:
            out.append(s)
    return out


def lost_property(g: Ghosts | None) -> ir.Recoverable | None:
    if g is None or "lost" not in g.classes:
        return None
    c, v = ir.Local(g.cpu, "c"), ir.Local(g.vec, "v")
    pending = _in(v, g.ref("requested", c))
    return ir.Recoverable(PROPERTY_NAMES["lost"], (("c", g.cpu), ("v", g.vec)), pending,
                          ir.Unary(ir.BOOL, "not", pending))


def action_classes(g: Ghosts | None) -> dict[str, str]:
    """Class of each generated action property name."""
    if g is None:
        return {}
    return {PROPERTY_NAMES[k]: k for k in ("duplicated", "window", "priority") if k in g.classes}
