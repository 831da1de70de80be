"""The packed state encoding: round trips and stability."""

from hypothesis import given
from hypothesis import strategies as st

from checker import ir
from checker.engines.layout import decode, encode, width

TYPES = [
    ir.BOOL, ir.IntT(-3, 4), ir.IntT(7, 7), ir.EnumT("E", ("a", "b", "c")), ir.SetT(2, 9),
    ir.ArrayT(ir.IntT(1, 3), ir.IntT(0, 5)),
    ir.RecordT((("f", ir.IntT(0, 2)), ("g", ir.BOOL), ("s", ir.SetT(0, 3)))),
    ir.ArrayT(ir.EnumT("E", ("a", "b")), ir.RecordT((("x", ir.IntT(-1, 1)),))),
]


def values(t):
    if isinstance(t, ir.BoolT):
        return st.booleans()
    if isinstance(t, ir.IntT):
        return st.integers(t.lo, t.hi)
    if isinstance(t, ir.EnumT):
        return st.integers(0, len(t.members) - 1)
    if isinstance(t, ir.SetT):
        return st.frozensets(st.integers(t.lo, t.hi))
    if isinstance(t, ir.ArrayT):
        n = len(ir.domain_values(t.index))
        return st.lists(values(t.elem), min_size=n, max_size=n).map(tuple)
    return st.tuples(*[values(ft) for _, ft in t.fields])


@given(st.data())
def test_encode_decode_round_trip(data):
    for t in TYPES:
        v = data.draw(values(t))
        bits = encode(t, v)
        assert 0 <= bits < (1 << width(t)) or width(t) == 0
        assert decode(t, bits) == v


def test_widths():
    assert [width(t) for t in TYPES[:5]] == [1, 3, 0, 2, 8]
    assert width(TYPES[5]) == 9 and width(TYPES[6]) == 7 and width(TYPES[7]) == 4
