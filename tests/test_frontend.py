"""Parser and resolver units: the AST and IR that the stages produce."""

from helpers import system_from_text

from checker import ir
from checker.lang import ast
from checker.lang.parser import parse


def test_parse_precedence_and_spans():
    m, diags = parse("invariant i: not a and b or c => d\n", "f.irq")
    assert not diags
    (inv,) = m.items
    e = inv.expr
    assert isinstance(e, ast.Binary) and e.op == "=>"
    assert e.left.op == "or" and e.left.left.op == "and"
    assert isinstance(e.left.left.left, ast.Unary)
    assert (inv.span.line, inv.span.col) == (1, 1)
    assert (e.right.span.line, e.right.span.col) == (1, 34)


def test_parse_rule_with_annotation_params_and_statements():
    src = ('@kvm("ioapic_service")\nrule r(p: 0..3, q: bool) when p > 0 {\n'
           '  let v = p + 1; x[p] := v; s += {p}; if q { skip } else if p == 2 { f(p) }\n'
           '  for i in 0..1 { y := i }\n  assert ok: v > 0\n}\n')
    m, diags = parse(src, "f.irq")
    assert not diags
    (r,) = m.items
    assert r.annotations[0].value == "ioapic_service"
    assert [p.name.id for p in r.params] == ["p", "q"]
    kinds = [type(s).__name__ for s in r.body]
    assert kinds == ["Let", "Assign", "Assign", "If", "For", "Assert"]
    assert r.body[2].op == "+="
    assert isinstance(r.body[3].els[0], ast.If)


def test_numbers_hex_and_records():
    m, _ = parse("var r: record { v: 0..255 } = { v: 0x30 }\n", "f.irq")
    assert m.items[0].init.fields[0][1].value == 0x30


def test_resolver_folds_constants_and_inlines(tmp_path):
    s = system_from_text(tmp_path, "const K: 0..9 = 3\ndef dbl(x: 0..9) = 2 * x\n"
                         "var y: 0..20 = 0\nrule r when y < dbl(K) { y := y + 1 }\n")
    g = s.rules[0].guard
    assert isinstance(g, ir.Binary) and g.right == ir.Const(ir.IntT(6, 6), 6)


def test_proc_arguments_are_call_by_value(tmp_path):
    s = system_from_text(tmp_path, "var x, y: 0..3 = 0\nproc p(v: 0..3) { x := 3; y := v }\n"
                         "rule r when x == 0 { p(x) }\n")
    from checker.engines.explicit import check
    r = check(s)
    # the argument x was read before the body set x := 3: y gets 0
    assert r.stats.states == 2
    from checker.ir_eval import fire, initial_state
    succ, _ = fire(s.rules[0], (), initial_state(s))
    assert succ == (3, 0)


def test_enum_members_and_instance_naming(tmp_path):
    s = system_from_text(tmp_path, "type Mode = enum { host, guest }\n"
                         "component V() { var mode: Mode = host\n"
                         "  rule enter when mode == host { mode := guest } }\n"
                         "instance vcpu[c in 0..1] = V()\n")
    (v,) = s.variables
    assert v.name == "vcpu.mode" and v.instance_array and v.init == (0, 0)
    assert s.rules[0].name == "vcpu.enter" and s.rules[0].instance_param == "c"
    from checker.result import make_step
    step = make_step(s.rules[0], (1,), ((1, 1),))
    assert step.label == "vcpu[1].enter" and step.component == "vcpu[1]"
