"""A tiny 16-bit real-mode assembler: just the instructions the harness guest uses.

Labels are resolved in a second pass; jumps are always the near (rel16) forms so no
relaxation is needed. 32-bit data accesses carry the 0x66 operand-size prefix (the LAPIC
and IOAPIC accept only aligned 32-bit accesses). The encodings are checked against GNU
objdump in tests/test_kvm_harness.py when binutils is installed.
"""

from __future__ import annotations

import struct

SEG_ES, SEG_CS, SEG_SS, SEG_DS = 0x26, 0x2E, 0x36, 0x3E

# condition codes of Jcc (0F 80+cc rel16)
CC_E, CC_NE = 0x4, 0x5


class Asm:
    """Accumulates machine code for a block placed at guest-physical `origin` (CS base 0)."""

    def __init__(self, origin: int) -> None:
        self.origin = origin
        self.code = bytearray()
        self.labels: dict[str, int] = {}
        self._fixups: list[tuple[int, str]] = []  # (offset of the rel16, target label)

    # ---- layout ----
    @property
    def here(self) -> int:
        return self.origin + len(self.code)

    def label(self, name: str) -> int:
        if name in self.labels:
            raise ValueError(f"label {name!r} defined twice")
        self.labels[name] = self.here
        return self.here

    def db(self, *data: int) -> None:
        self.code += bytes(b & 0xFF for b in data)

    def align(self, n: int, fill: int = 0x90) -> None:
        while len(self.code) % n:
            self.db(fill)

    def _rel16(self, target: str) -> None:
        self._fixups.append((len(self.code), target))
        self.code += b"\0\0"

    def assemble(self) -> bytes:
        for off, target in self._fixups:
            if target not in self.labels:
                raise ValueError(f"undefined label {target!r}")
            rel = self.labels[target] - (self.origin + off + 2)
            if not -0x8000 <= rel < 0x8000:
                raise ValueError(f"jump to {target!r} out of range")
            struct.pack_into("<h", self.code, off, rel)
        return bytes(self.code)

    # ---- control flow ----
    def jmp(self, target: str) -> None:
        self.db(0xE9)
        self._rel16(target)

    def jcc(self, cc: int, target: str) -> None:
        self.db(0x0F, 0x80 | cc)
        self._rel16(target)

    def je(self, target: str) -> None:
        self.jcc(CC_E, target)

    def jne(self, target: str) -> None:
        self.jcc(CC_NE, target)

    def iret(self) -> None:
        self.db(0xCF)

    def int_(self, vector: int) -> int:
        """INT imm8; returns the address of the imm8 (the harness patches it)."""
        self.db(0xCD, vector)
        return self.here - 1

    # ---- flags and CPU state ----
    def sti(self) -> None:
        self.db(0xFB)

    def cli(self) -> None:
        self.db(0xFA)

    def hlt(self) -> None:
        self.db(0xF4)

    def nop(self) -> None:
        self.db(0x90)

    # ---- port I/O ----
    def in_al(self, port: int) -> None:
        self.db(0xE4, port)

    def in_eax(self, port: int) -> None:
        self.db(0x66, 0xE5, port)

    def out_al(self, port: int) -> None:
        self.db(0xE6, port)

    # ---- registers and memory ----
    def mov_al(self, imm: int) -> None:
        self.db(0xB0, imm)

    def cmp_al(self, imm: int) -> None:
        self.db(0x3C, imm)

    def push_eax(self) -> None:
        self.db(0x66, 0x50)

    def pop_eax(self) -> None:
        self.db(0x66, 0x58)

    def xor_eax_eax(self) -> None:
        self.db(0x66, 0x31, 0xC0)

    def mov_mem_eax(self, disp: int, seg: int | None = None) -> None:
        """mov dword [seg:disp16], eax (A3 moffs16 with the 0x66 prefix)."""
        if seg is not None:
            self.db(seg)
        self.db(0x66, 0xA3, disp & 0xFF, disp >> 8)

    def cmp_byte_mem(self, disp: int, imm: int, seg: int | None = None) -> None:
        """cmp byte [seg:disp16], imm8 (80 /7 with ModRM 0x3E = [disp16])."""
        if seg is not None:
            self.db(seg)
        self.db(0x80, 0x3E, disp & 0xFF, disp >> 8, imm)
