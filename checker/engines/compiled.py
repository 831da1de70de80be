"""A system compiled to Python: per-rule-instance successor functions and a fused BFS loop.

The per-instance functions are the concrete evaluator shared by the explicit
engine (to rebuild traces) and by replay. The fused loop inlines every rule
instance into one function for speed; both are generated from the same code.
"""

from __future__ import annotations

from dataclasses import dataclass

from checker import ir
from checker.engines.codegen import CE, RUNTIME, Compiler, _RuntimeFault, const, merge_writes
from checker.engines.layout import Layout


class StopSearch(Exception):
    """Raised by the violation callbacks to end the search early."""


@dataclass(frozen=True)
class RuleInstance:
    rule_index: int
    rule: ir.Rule
    params: tuple
    guard: str | None  # None: statically disabled
    body: tuple[str, ...]  # lines, indented by 4 per level from column 0; asserts as @@prop@@


def _env(rule: ir.Rule, params: tuple) -> dict:
    return {name: const(t, bool(v) if isinstance(t, ir.BoolT) else v)
            for (name, t), v in zip(rule.params, params)}


class CompiledSystem:
    def __init__(self, system: ir.System):
        self.system = system
        self.layout = Layout.of(system)
        self.compiler = Compiler(system, self.layout)
        self.instances: list[RuleInstance] = []
        self.prop_ids = {a.name: i for i, a in enumerate(system.actions)}
        for ri, rule, params in system.rule_instances():
            self.instances.append(self._instance(ri, rule, params))
        self.invariants = [self._cond(inv.expr, "t") for inv in system.invariants]
        self.reach = [self._cond(r.expr, "t") for r in system.reachables]
        self.graph = bool(system.recoverables)  # record every edge for AG EF
        self.source = self._module_source()
        self.namespace = {**RUNTIME, "StopSearch": StopSearch, "_RuntimeFault": _RuntimeFault}
        exec(compile(self.source, f"<irqcheck:{system.name}>", "exec"), self.namespace)
        self.fire_fns = [self.namespace.get(f"_r{k}") for k in range(len(self.instances))]
        self.inv_fns = [self.namespace[f"_inv{i}"] for i in range(len(self.invariants))]
        self.reach_fns = [self.namespace[f"_reach{i}"] for i in range(len(self.reach))]
        self.explore_fn = self.namespace["_explore"]

    # ---- compilation ----
    def _cond(self, e: ir.Expr, st: str) -> str:
        c: CE = self.compiler.expr(e, {}, st)
        return repr(bool(c.const)) if c.is_const else c.code

    def _instance(self, ri: int, rule: ir.Rule, params: tuple) -> RuleInstance:
        env = _env(rule, params)
        g = self.compiler.expr(rule.guard, env, "s")
        if g.is_const and not g.const:
            return RuleInstance(ri, rule, params, None, ())
        lines: list[str] = []
        self.compiler.stmts(rule.body, dict(env), lines, "", lambda p: f"@@{p}@@")
        return RuleInstance(ri, rule, params, "True" if g.is_const else g.code,
                            tuple(merge_writes(lines)))

    @staticmethod
    def _indent(lines, ind: str, on_assert) -> list[str]:
        out = []
        for line in lines:
            if "@@" in line:
                pre, prop, post = line.split("@@")
                line = pre + on_assert(prop) + post
            out.append(ind + line)
        return out

    def _fire_source(self, k: int, inst: RuleInstance) -> list[str]:
        src = [f"def _r{k}(s, fails):  # {inst.rule.name}{inst.params}",
               f"    if not {inst.guard}:", "        return None", "    t = s"]
        src += self._indent(inst.body, "    ", lambda p: f"fails.append({p!r})")
        src.append("    return t")
        return src

    def _module_source(self) -> str:
        src: list[str] = []
        for k, inst in enumerate(self.instances):
            if inst.guard is not None:
                src += self._fire_source(k, inst)
        for i, code in enumerate(self.invariants):
            src += [f"def _inv{i}(t):", f"    return {code}"]
        for i, code in enumerate(self.reach):
            src += [f"def _reach{i}(t):", f"    return {code}"]
        src += self._explore_source()
        return "\n".join(src) + "\n"

    def _explore_source(self) -> list[str]:
        check_dead = self.system.deadlock
        src = [
            "def _explore(states, seen, parent, via, head, ntr, depth, level_end, limit, hook,",
            "             on_inv, on_act, on_dead, on_reach, searching, esrc, edst):",
            "    push = states.append; par = parent.append; vi = via.append",
            "    seen_add = seen.add if isinstance(seen, set) else None",
            "    seen_get = seen.get if isinstance(seen, dict) else None",
            "    eadd_src = esrc.append; eadd_dst = edst.append",
            "    n = len(states)",
            "    status = None",
            "    try:",
            "        while head < n:",
            "            if head == level_end:",
            "                depth += 1",
            "                level_end = n",
            "            s = states[head]",
            "            n0 = ntr",
        ]
        ind = "            "
        for k, inst in enumerate(self.instances):
            if inst.guard is None:
                continue
            src.append(f"{ind}# {k}: {inst.rule.name}{inst.params}")
            inner = ind
            if inst.guard != "True":
                src.append(f"{ind}if {inst.guard}:")
                inner = ind + "    "
            src.append(f"{inner}t = s")
            src += self._indent(inst.body, inner,
                                lambda p, k=k: f"on_act({self.prop_ids[p]}, head, {k})")
            src.append(f"{inner}ntr += 1")
            if self.graph:
                src += [f"{inner}idx = seen_get(t)",
                        f"{inner}if idx is None:",
                        f"{inner}    idx = n; seen[t] = n; push(t); par(head); vi({k}); n += 1"]
            else:
                src += [f"{inner}if t not in seen:",
                        f"{inner}    seen_add(t); push(t); par(head); vi({k}); n += 1"]
            for i, code in enumerate(self.invariants):
                if code != "True":
                    src.append(f"{inner}    if not {code}: on_inv({i}, n - 1)")
            for i, code in enumerate(self.reach):
                src.append(f"{inner}    if searching[{i}] and {code}: on_reach({i}, n - 1)")
            src.append(f"{inner}    if n >= limit: raise StopSearch('state-limit')")
            if self.graph:
                src.append(f"{inner}eadd_src(head); eadd_dst(idx)")
        if check_dead:
            src.append(f"{ind}if ntr == n0: on_dead(head)")
        src += [
            f"{ind}head += 1",
            f"{ind}if not head & 1023 and hook(head, n, ntr, depth):",
            f"{ind}    status = 'hook'",
            f"{ind}    break",
            "    except StopSearch as stop:",
            "        status = str(stop)",
            "    except KeyboardInterrupt:",
            "        status = 'interrupted'",
            "    except _RuntimeFault as fault:",
            "        fault.head, fault.ntr, fault.depth = head, ntr, depth",
            "        raise",
            "    return head, ntr, depth, level_end, status",
        ]
        return src

    # ---- the concrete evaluator ----
    def fire(self, k: int, packed: int):
        """(successor or None when disabled, failed assert names) of instance k."""
        fn = self.fire_fns[k]
        if fn is None:
            return None, []
        fails: list[str] = []
        return fn(packed, fails), fails

    def successors(self, packed: int):
        """[(instance id, successor, failed asserts)] of a state, in instance order."""
        out = []
        for k, fn in enumerate(self.fire_fns):
            if fn is not None:
                fails: list[str] = []
                t = fn(packed, fails)
                if t is not None:
                    out.append((k, t, fails))
        return out

    def failed_invariants(self, packed: int) -> list[int]:
        return [i for i, f in enumerate(self.inv_fns) if not f(packed)]

    def runtime_message(self, fault: _RuntimeFault):
        message, span = self.compiler.errors[fault.k]
        return f"{message} (value {fault.value})", span

    def pack(self, state: tuple) -> int:
        return self.layout.pack(self.system, state)

    def unpack(self, packed: int) -> tuple:
        return self.layout.unpack(self.system, packed)
