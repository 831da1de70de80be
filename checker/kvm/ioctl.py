"""ctypes ioctl wrappers and the KVM struct layouts the harness uses (x86-64, API 12).

Every call goes through ``ctypes.CDLL(None).ioctl`` with an ``unsigned long`` request:
``fcntl.ioctl`` takes its integer argument as a signed C int and cannot pass
``KVM_SET_TSS_ADDR(0xFFFBD000)``. ctypes releases the GIL during the call, so another
thread may raise IRQs while ``KVM_RUN`` blocks.

Structs are plain ``bytearray``/ctypes buffers read and written with ``struct`` at the byte
offsets of ``<linux/kvm.h>`` (they are listed in docs/conformance.md).
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct

# ---- ioctl request encoding (asm-generic/ioctl.h) ----
KVMIO = 0xAE
_NONE, _WRITE, _READ = 0, 1, 2


def _ioc(direction: int, nr: int, size: int) -> int:
    return (direction << 30) | (size << 16) | (KVMIO << 8) | nr


def io(nr: int) -> int:
    return _ioc(_NONE, nr, 0)


def ior(nr: int, size: int) -> int:
    return _ioc(_READ, nr, size)


def iow(nr: int, size: int) -> int:
    return _ioc(_WRITE, nr, size)


def iowr(nr: int, size: int) -> int:
    return _ioc(_READ | _WRITE, nr, size)


# ---- struct sizes ----
SIZEOF_REGS = 144
SIZEOF_SREGS = 312
SIZEOF_LAPIC = 1024
SIZEOF_EVENTS = 64
SIZEOF_IRQCHIP = 520
SIZEOF_MEMREGION = 32
SIZEOF_MSI = 32
SIZEOF_IRQ_LEVEL = 8
SIZEOF_ENABLE_CAP = 104
SIZEOF_CPUID_ENTRY = 40

# ---- ioctls ----
KVM_GET_API_VERSION = io(0x00)
KVM_CREATE_VM = io(0x01)
KVM_CHECK_EXTENSION = io(0x03)
KVM_GET_VCPU_MMAP_SIZE = io(0x04)
KVM_GET_SUPPORTED_CPUID = iowr(0x05, 8)
KVM_CREATE_VCPU = io(0x41)
KVM_SET_USER_MEMORY_REGION = iow(0x46, SIZEOF_MEMREGION)
KVM_SET_TSS_ADDR = io(0x47)
KVM_SET_IDENTITY_MAP_ADDR = iow(0x48, 8)
KVM_CREATE_IRQCHIP = io(0x60)
KVM_IRQ_LINE = iow(0x61, SIZEOF_IRQ_LEVEL)
KVM_GET_IRQCHIP = iowr(0x62, SIZEOF_IRQCHIP)
KVM_SET_IRQCHIP = ior(0x63, SIZEOF_IRQCHIP)  # historically encoded _IOR
KVM_IRQ_LINE_STATUS = iowr(0x67, SIZEOF_IRQ_LEVEL)
KVM_RUN = io(0x80)
KVM_GET_REGS = ior(0x81, SIZEOF_REGS)
KVM_SET_REGS = iow(0x82, SIZEOF_REGS)
KVM_GET_SREGS = ior(0x83, SIZEOF_SREGS)
KVM_SET_SREGS = iow(0x84, SIZEOF_SREGS)
KVM_INTERRUPT = iow(0x86, 4)
KVM_GET_LAPIC = ior(0x8E, SIZEOF_LAPIC)
KVM_SET_LAPIC = iow(0x8F, SIZEOF_LAPIC)
KVM_SET_CPUID2 = iow(0x90, 8)
KVM_GET_MP_STATE = ior(0x98, 4)
KVM_SET_MP_STATE = iow(0x99, 4)
KVM_NMI = io(0x9A)
KVM_GET_VCPU_EVENTS = ior(0x9F, SIZEOF_EVENTS)
KVM_SET_VCPU_EVENTS = iow(0xA0, SIZEOF_EVENTS)
KVM_ENABLE_CAP = iow(0xA3, SIZEOF_ENABLE_CAP)
KVM_SIGNAL_MSI = iow(0xA5, SIZEOF_MSI)

API_VERSION = 12

# capabilities
CAP_IRQ_INJECT_STATUS = 26
CAP_SIGNAL_MSI = 77
CAP_SPLIT_IRQCHIP = 121
CAP_IMMEDIATE_EXIT = 136

# exit reasons
EXIT_IO = 2
EXIT_HLT = 5
EXIT_MMIO = 6
EXIT_IRQ_WINDOW_OPEN = 7
EXIT_SHUTDOWN = 8
EXIT_FAIL_ENTRY = 9
EXIT_INTR = 10
EXIT_INTERNAL_ERROR = 17
EXIT_NAMES = {
    EXIT_IO: "IO",
    EXIT_HLT: "HLT",
    EXIT_MMIO: "MMIO",
    EXIT_IRQ_WINDOW_OPEN: "IRQ_WINDOW_OPEN",
    EXIT_SHUTDOWN: "SHUTDOWN",
    EXIT_FAIL_ENTRY: "FAIL_ENTRY",
    EXIT_INTR: "INTR",
    EXIT_INTERNAL_ERROR: "INTERNAL_ERROR",
}
IO_IN, IO_OUT = 0, 1

# mp_state
MP_RUNNABLE = 0
MP_UNINITIALIZED = 1
MP_HALTED = 3

# irqchip ids
CHIP_PIC_MASTER, CHIP_PIC_SLAVE, CHIP_IOAPIC = 0, 1, 2

# ---- kvm_run (the vCPU mmap) ----
RUN_REQUEST_INTERRUPT_WINDOW = 0
RUN_IMMEDIATE_EXIT = 1
RUN_EXIT_REASON = 8
RUN_READY_FOR_INTERRUPT_INJECTION = 12
RUN_IF_FLAG = 13
RUN_EXIT = 32  # the exit union
RUN_IO = struct.Struct("<BBHIQ")  # direction, size, port, count, data_offset (at RUN_EXIT)
RUN_MMIO = struct.Struct("<Q8sIB")  # phys_addr, data, len, is_write
RUN_INTERNAL = struct.Struct("<II4Q")  # suberror, ndata, data[0..3]

# ---- kvm_regs: 18 u64 ----
REGS = struct.Struct("<18Q")
REG_RAX, REG_RSP, REG_RIP, REG_RFLAGS = 0, 6, 16, 17
RFLAGS_IF = 1 << 9

# ---- kvm_sregs ----
# base, limit, selector, type, present, dpl, db, s, l, g, avl, unusable, padding
SEGMENT = struct.Struct("<QIHBBBBBBBBBx")
SREG_CS, SREG_DS, SREG_ES, SREG_FS, SREG_GS, SREG_SS = (24 * i for i in range(6))

# ---- kvm_vcpu_events ----
EV_INTERRUPT_INJECTED = 8
EV_INTERRUPT_NR = 9
EV_INTERRUPT_SHADOW = 11
EV_NMI_INJECTED = 12
EV_NMI_PENDING = 13
EV_NMI_MASKED = 14

# ---- kvm_irqchip / kvm_ioapic_state ----
IOAPIC_PINS = 24
IOAPIC_HEADER = struct.Struct("<QIIII")  # base_address, ioregsel, id, irr, pad (after chip hdr)
IOAPIC_STATE_OFF = 8  # after u32 chip_id, u32 pad
IOAPIC_REDIR_OFF = IOAPIC_STATE_OFF + IOAPIC_HEADER.size  # u64 redirtbl[24]
PIC_STATE = struct.Struct("<16B")
PIC_IMR = 2  # index of imr in kvm_pic_state

# redirection entry bits
RTE_VECTOR = 0xFF
RTE_DELIVERY_MODE_SHIFT = 8
RTE_DEST_LOGICAL = 1 << 11
RTE_DELIVERY_STATUS = 1 << 12
RTE_POLARITY = 1 << 13
RTE_REMOTE_IRR = 1 << 14
RTE_LEVEL = 1 << 15
RTE_MASK = 1 << 16
RTE_DEST_SHIFT = 56

# ---- LAPIC register offsets (xAPIC MMIO layout, also kvm_lapic_state.regs) ----
APIC_ID = 0x20
APIC_TPR = 0x80
APIC_PPR = 0xA0
APIC_EOI = 0xB0
APIC_LDR = 0xD0
APIC_DFR = 0xE0
APIC_SVR = 0xF0
APIC_ISR = 0x100
APIC_TMR = 0x180
APIC_IRR = 0x200
APIC_LVT0 = 0x350
APIC_SVR_ENABLE = 1 << 8
APIC_LVT_MASKED = 1 << 16
LAPIC_BASE = 0xFEE00000
IOAPIC_BASE = 0xFEC00000


# ---- the call ----
_libc = ctypes.CDLL(None, use_errno=True)
_ioctl = _libc.ioctl
_ioctl.restype = ctypes.c_int


def ioctl_raw(fd: int, request: int, arg: object = None) -> tuple[int, int]:
    """One ioctl; returns (result, errno) without raising (errno is 0 on success)."""
    if arg is None or isinstance(arg, int):
        arg = ctypes.c_ulong(arg or 0)
    r = _ioctl(fd, ctypes.c_ulong(request), arg)
    return (r, ctypes.get_errno()) if r < 0 else (r, 0)


def ioctl(fd: int, request: int, arg: object = None) -> int:
    """One ioctl; raises OSError (retrying on EINTR) on failure."""
    while True:
        r, err = ioctl_raw(fd, request, arg)
        if r >= 0:
            return r
        if err != errno.EINTR:
            raise OSError(err, f"ioctl {request:#x}: {os.strerror(err)}")


def buffer(size: int) -> ctypes.Array:
    return ctypes.create_string_buffer(size)


# ---- small struct helpers ----
def u32(buf, off: int) -> int:
    return struct.unpack_from("<I", buf, off)[0]


def put_u32(buf, off: int, value: int) -> None:
    struct.pack_into("<I", buf, off, value & 0xFFFFFFFF)


def u64(buf, off: int) -> int:
    return struct.unpack_from("<Q", buf, off)[0]


def put_u64(buf, off: int, value: int) -> None:
    struct.pack_into("<Q", buf, off, value & 0xFFFFFFFFFFFFFFFF)


def vector_set(lapic, base: int) -> frozenset[int]:
    """The 256-bit LAPIC register at `base` (ISR/TMR/IRR) as a set of vectors."""
    out = []
    for i in range(8):
        word = u32(lapic, base + 0x10 * i)
        while word:
            low = word & -word
            out.append(32 * i + low.bit_length() - 1)
            word ^= low
    return frozenset(out)


def irq_level(gsi: int, level: int) -> ctypes.Array:
    buf = buffer(SIZEOF_IRQ_LEVEL)
    struct.pack_into("<II", buf, 0, gsi, level)
    return buf


def memory_region(slot: int, guest_phys: int, size: int, host_addr: int) -> ctypes.Array:
    buf = buffer(SIZEOF_MEMREGION)
    struct.pack_into("<IIQQQ", buf, 0, slot, 0, guest_phys, size, host_addr)
    return buf


def msi(address: int, data: int) -> ctypes.Array:
    buf = buffer(SIZEOF_MSI)
    struct.pack_into("<IIIII", buf, 0, address & 0xFFFFFFFF, address >> 32, data, 0, 0)
    return buf


def enable_cap(cap: int, *args: int) -> ctypes.Array:
    buf = buffer(SIZEOF_ENABLE_CAP)
    struct.pack_into("<II4Q", buf, 0, cap, 0, *(list(args) + [0] * (4 - len(args))))
    return buf


def irqchip(chip_id: int) -> ctypes.Array:
    buf = buffer(SIZEOF_IRQCHIP)
    put_u32(buf, 0, chip_id)
    return buf


def supported_cpuid(kvm_fd: int, max_entries: int = 256) -> ctypes.Array:
    """KVM_GET_SUPPORTED_CPUID as a kvm_cpuid2 buffer, ready for KVM_SET_CPUID2."""
    buf = buffer(8 + SIZEOF_CPUID_ENTRY * max_entries)
    put_u32(buf, 0, max_entries)
    ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, buf)
    return buf


def cpuid_entries(buf) -> list[tuple[int, int, int, int, int, int]]:
    """(function, index, eax, ebx, ecx, edx) of each entry of a kvm_cpuid2 buffer."""
    n = u32(buf, 0)
    out = []
    for i in range(n):
        f, idx, _flags, a, b, c, d = struct.unpack_from("<7I", buf, 8 + SIZEOF_CPUID_ENTRY * i)
        out.append((f, idx, a, b, c, d))
    return out
