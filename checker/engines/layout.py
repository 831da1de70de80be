"""The packed encoding of states: every variable at a fixed bit offset of one integer.

Encodings: bool -> 1 bit; lo..hi -> value-lo in bits(hi-lo); enum -> member
index; set over lo..hi -> bit x-lo for element x; arrays and records -> their
elements / fields concatenated from the low bits up. Equal values have equal
encodings, so a state's packed integer is its fingerprint: stable from run to run.
"""

from __future__ import annotations

from dataclasses import dataclass

from checker import ir


def width(t: ir.Type) -> int:
    if isinstance(t, ir.BoolT):
        return 1
    if isinstance(t, ir.IntT):
        return (t.hi - t.lo).bit_length()
    if isinstance(t, ir.EnumT):
        return (len(t.members) - 1).bit_length()
    if isinstance(t, ir.SetT):
        return t.hi - t.lo + 1
    if isinstance(t, ir.ArrayT):
        return len(ir.domain_values(t.index)) * width(t.elem)
    if isinstance(t, ir.RecordT):
        return sum(width(ft) for _, ft in t.fields)
    raise TypeError(f"no encoding for {t}")


def field_offset(t: ir.RecordT, name: str) -> int:
    off = 0
    for n, ft in t.fields:
        if n == name:
            return off
        off += width(ft)
    raise KeyError(name)


def encode(t: ir.Type, v) -> int:
    if isinstance(t, ir.BoolT):
        return 1 if v else 0
    if isinstance(t, ir.IntT):
        return v - t.lo
    if isinstance(t, ir.EnumT):
        return v
    if isinstance(t, ir.SetT):
        out = 0
        for x in v:
            out |= 1 << (x - t.lo)
        return out
    if isinstance(t, ir.ArrayT):
        w, out = width(t.elem), 0
        for i, x in enumerate(v):
            out |= encode(t.elem, x) << (i * w)
        return out
    if isinstance(t, ir.RecordT):
        out, off = 0, 0
        for (_, ft), x in zip(t.fields, v):
            out |= encode(ft, x) << off
            off += width(ft)
        return out
    raise TypeError(f"no encoding for {t}")


def decode(t: ir.Type, bits: int):
    if isinstance(t, ir.BoolT):
        return bool(bits & 1)
    if isinstance(t, ir.IntT):
        return (bits & ((1 << width(t)) - 1)) + t.lo
    if isinstance(t, ir.EnumT):
        return bits & ((1 << width(t)) - 1)
    if isinstance(t, ir.SetT):
        return frozenset(t.lo + i for i in range(width(t)) if bits >> i & 1)
    if isinstance(t, ir.ArrayT):
        w = width(t.elem)
        return tuple(decode(t.elem, bits >> (i * w)) for i in range(len(ir.domain_values(t.index))))
    if isinstance(t, ir.RecordT):
        out, off = [], 0
        for _, ft in t.fields:
            out.append(decode(ft, bits >> off))
            off += width(ft)
        return tuple(out)
    raise TypeError(f"no encoding for {t}")


@dataclass(frozen=True)
class Layout:
    offsets: tuple[int, ...]
    widths: tuple[int, ...]
    bits: int

    @classmethod
    def of(cls, system: ir.System) -> Layout:
        offsets, widths, off = [], [], 0
        for v in system.variables:
            w = width(v.type)
            offsets.append(off)
            widths.append(w)
            off += w
        return cls(tuple(offsets), tuple(widths), off)

    def pack(self, system: ir.System, state: tuple) -> int:
        out = 0
        for v, off, x in zip(system.variables, self.offsets, state):
            out |= encode(v.type, x) << off
        return out

    def unpack(self, system: ir.System, packed: int) -> tuple:
        return tuple(decode(v.type, packed >> off)
                     for v, off in zip(system.variables, self.offsets))
