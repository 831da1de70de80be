"""The `Machine`: one KVM VM with an in-kernel irqchip whose vCPUs run a real-mode command
interpreter, driven step by step from the host.

A step answers the vCPU's parked `in al, 0xF0` with a command byte and runs `KVM_RUN` until
the vCPU parks on such an IN again. Interrupt handlers report their vector with
`out 0xE0, al`; the host records it (with the interrupted IP and EAX read from the guest
stack) and may run a hook there, while the handler is suspended at that exit (the way
kvm-unit-tests' handlers call `set_irq_line`, an OUT to QEMU's pc-testdev).

The guest (memory map, guest-physical, CS base 0):

    0x0000  IVT, 256 entries, all pointing into the stub table
    0x0600  handler EOI flag (0: the handler does not EOI, 1: xAPIC MMIO EOI)
    0x2000  stubs, 8 bytes per vector: push eax; mov al, V; jmp common
    0x2800  the common handlers, then the interpreter (`main`)
    0xF000  top of vCPU 0's stack; vCPU n uses 0xF000 - n * 0x800

DS has base 0xFEE00000 (the LAPIC) and ES base 0xFEC00000 (the IOAPIC); the selectors stay 0
(real mode with "unreal" bases set through KVM_SET_SREGS), so `[ds:0xB0]` is the EOI
register. Vectors 0x10..0xFF report, EOI per the flag and IRET; vectors 0..0x0F
(exceptions, NMI = 2, and anything the PIC would send with its reset irq_base 0) report
and IRET without an EOI. The `tpr` and `ioapic_write` commands read their operands with
`in eax, 0xF1` / `in eax, 0xF2`, answered by the host within the same step.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import mmap
import os
import signal
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from . import ioctl as k
from .asm import SEG_CS, SEG_ES, Asm

# ======================================================================================
# The guest
# ======================================================================================

MEM_SIZE = 0x100000
EOI_FLAG = 0x600
STUBS = 0x2000
STUB_SIZE = 8
STACK_TOP = 0xF000
STACK_PER_CPU = 0x800
MAX_CPUS = 8  # flat logical mode: LDR bit 1 << cpu

PORT_VECTOR = 0xE0
PORT_CMD = 0xF0
PORT_ARG0 = 0xF1
PORT_ARG1 = 0xF2

IOREGSEL, IOWIN = 0x00, 0x10

# command name -> byte answered to the parked IN
COMMANDS = {
    "nop": 1,
    "sti": 2,
    "cli": 3,
    "hlt": 4,
    "sti_hlt": 5,
    "eoi": 6,
    "tpr": 7,
    "ioapic_write": 8,
    "sti_nop": 9,
    "sti_in": 10,  # extension: STI, then park on an IN inside the STI shadow
    "sti_int": 11,  # extension: STI; INT arg (a software interrupt in the STI shadow)
}
HLT_COMMANDS = frozenset({"hlt", "sti_hlt"})
DEFAULT_INT_VECTOR = 0x21


@dataclass(frozen=True)
class GuestImage:
    code: bytes  # placed at STUBS
    labels: dict[str, int]
    int_imm: int  # address of the imm8 of the sti_int command's INT


def stack_top(cpu: int) -> int:
    return STACK_TOP - cpu * STACK_PER_CPU


def guest_ivt() -> bytes:
    """256 real-mode vectors (offset, segment 0) pointing at the stubs."""
    out = bytearray()
    for v in range(256):
        out += (STUBS + STUB_SIZE * v).to_bytes(2, "little") + b"\0\0"
    return bytes(out)


def build_guest() -> GuestImage:
    a = Asm(STUBS)
    _stubs(a)
    _handlers(a)
    int_imm = _interpreter(a)
    return GuestImage(a.assemble(), dict(a.labels), int_imm)


def _stubs(a: Asm) -> None:
    for v in range(256):
        a.push_eax()
        a.mov_al(v)
        a.jmp("common" if v >= 0x10 else "common_noeoi")
        a.align(STUB_SIZE)


def _handlers(a: Asm) -> None:
    a.label("common")
    a.out_al(PORT_VECTOR)
    a.cmp_byte_mem(EOI_FLAG, 0, seg=SEG_CS)
    a.je("common.iret")
    a.xor_eax_eax()
    a.mov_mem_eax(0xB0)  # [ds:0xB0] = LAPIC EOI
    a.label("common.iret")
    a.pop_eax()
    a.iret()
    a.label("common_noeoi")
    a.out_al(PORT_VECTOR)
    a.pop_eax()
    a.iret()


def _interpreter(a: Asm) -> int:
    """The command loop; labels `<cmd>`, `<cmd>.<insn>` and `<cmd>.after` mark boundaries."""
    a.label("main")
    a.in_al(PORT_CMD)
    a.label("dispatch")
    for name, code in COMMANDS.items():
        a.cmp_al(code)
        a.je(name)
    a.jmp("main")  # unknown byte: nothing

    def command(name: str, *insns: tuple[str, Callable[[], None]]) -> None:
        a.label(name)
        for label, emit in insns:
            if label:
                a.label(f"{name}.{label}")
            emit()
        a.label(f"{name}.after")
        a.jmp("main")

    command("nop", ("", a.nop))
    command("sti", ("", a.sti))
    command("cli", ("", a.cli))
    command("hlt", ("hlt", a.hlt))
    command("sti_hlt", ("", a.sti), ("hlt", a.hlt))
    command("eoi", ("", a.xor_eax_eax), ("write", lambda: a.mov_mem_eax(0xB0)))
    command("tpr", ("", lambda: a.in_eax(PORT_ARG0)), ("write", lambda: a.mov_mem_eax(0x80)))
    command(
        "ioapic_write",
        ("", lambda: a.in_eax(PORT_ARG0)),
        ("", lambda: a.mov_mem_eax(IOREGSEL, seg=SEG_ES)),
        ("", lambda: a.in_eax(PORT_ARG1)),
        ("write", lambda: a.mov_mem_eax(IOWIN, seg=SEG_ES)),
    )
    command("sti_nop", ("", a.sti), ("nop", a.nop))
    # sti_in parks inside the STI shadow and continues at dispatch once answered
    a.label("sti_in")
    a.sti()
    a.label("sti_in.in")
    a.in_al(PORT_CMD)
    a.label("sti_in.after")
    a.jmp("dispatch")
    a.label("sti_int")
    a.sti()
    a.label("sti_int.int")
    int_imm = a.int_(DEFAULT_INT_VECTOR)
    a.label("sti_int.after")
    a.jmp("main")
    return int_imm


# ======================================================================================
# Availability
# ======================================================================================

KVM_PATH = "/dev/kvm"
BACKENDS = ("kvm_pvm", "kvm_intel", "kvm_amd")


class KvmUnavailable(Exception):
    """/dev/kvm cannot be used here; `reason` says why, for a human."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def availability() -> str | None:
    """None if /dev/kvm is usable (opens read-write, API version 12), else the reason."""
    if not os.path.exists(KVM_PATH):
        return f"{KVM_PATH} does not exist"
    if not os.access(KVM_PATH, os.R_OK | os.W_OK):
        return f"{KVM_PATH} is not readable and writable by uid {os.getuid()}"
    try:
        fd = os.open(KVM_PATH, os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        return f"{KVM_PATH} cannot be opened: {e.strerror}"
    try:
        version = k.ioctl(fd, k.KVM_GET_API_VERSION)
    except OSError as e:
        return f"KVM_GET_API_VERSION failed: {e.strerror}"
    finally:
        os.close(fd)
    if version != k.API_VERSION:
        return f"KVM_GET_API_VERSION returned {version}, expected {k.API_VERSION}"
    return None


def detect_backend() -> str:
    """The loaded vendor module: "kvm_pvm", "kvm_intel", "kvm_amd" or "unknown".

    kvm_pvm is looked for first: where it is loaded it is what serves /dev/kvm here.
    """
    for name in BACKENDS:
        if os.path.isdir(f"/sys/module/{name}"):
            return name
    return "unknown"


# ======================================================================================
# Observations
# ======================================================================================


@dataclass(frozen=True)
class Redir:
    """One IOAPIC redirection entry, decoded."""

    vector: int
    delivery_mode: int
    dest_mode: str  # "physical" | "logical"
    delivery_status: int
    polarity: int
    remote_irr: bool
    trigger: str  # "edge" | "level"
    mask: bool
    dest: int

    @classmethod
    def decode(cls, e: int) -> Redir:
        return cls(
            vector=e & k.RTE_VECTOR,
            delivery_mode=(e >> k.RTE_DELIVERY_MODE_SHIFT) & 7,
            dest_mode="logical" if e & k.RTE_DEST_LOGICAL else "physical",
            delivery_status=int(bool(e & k.RTE_DELIVERY_STATUS)),
            polarity=int(bool(e & k.RTE_POLARITY)),
            remote_irr=bool(e & k.RTE_REMOTE_IRR),
            trigger="level" if e & k.RTE_LEVEL else "edge",
            mask=bool(e & k.RTE_MASK),
            dest=(e >> k.RTE_DEST_SHIFT) & 0xFF,
        )


@dataclass(frozen=True)
class CpuSnap:
    """One vCPU between steps: its LAPIC, RFLAGS.IF, interrupt shadow and run state."""

    irr: frozenset[int]
    isr: frozenset[int]
    tmr: frozenset[int]
    tpr: int
    ppr: int
    if_flag: bool
    shadow: int  # kvm_vcpu_events.interrupt.shadow: 1 MOV SS, 2 STI
    mp_state: int  # 0 RUNNABLE, 3 HALTED
    halted: bool  # stopped in HLT (the last step timed out), not parked on its IN


@dataclass(frozen=True)
class Snapshot:
    ioapic_irr: int  # bit n: pin n's line is asserted (ioapic->irr)
    redir: tuple[Redir, ...]  # 24 entries (empty with a split irqchip)
    cpus: tuple[CpuSnap, ...]
    delivered: tuple[tuple[int, ...], ...]  # per cpu, cumulative since reset, in order


@dataclass(frozen=True)
class Delivery:
    """A handler run: its vector, the interrupted linear IP, and EAX at the interruption."""

    vector: int
    ip: int
    eax: int


# ======================================================================================
# Waking a vCPU out of HLT
# ======================================================================================

WAKE_SIGNAL = signal.SIGUSR2


def _ignore_signal(signum, frame) -> None:
    """Does nothing: the EINTR that the signal causes in KVM_RUN is all we want."""


class _Waker:
    """A daemon thread that interrupts a thread's blocked KVM_RUN once its deadline passes.

    It sends WAKE_SIGNAL with pthread_kill, again every 2 ms until disarmed (so a signal
    that lands just before KVM_RUN is entered cannot leave the vCPU asleep), and never
    touches ITIMER_REAL or SIGALRM, which test runners use for their own timeouts.
    """

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._target: tuple[int, float] | None = None
        self._thread: threading.Thread | None = None

    def arm(self, timeout: float) -> None:
        with self._cv:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="kvm-waker", daemon=True)
                self._thread.start()
            self._target = (threading.get_ident(), time.monotonic() + timeout)
            self._cv.notify()

    def disarm(self) -> None:
        with self._cv:
            self._target = None

    def _loop(self) -> None:
        with self._cv:
            while True:
                if self._target is None:
                    self._cv.wait()
                    continue
                tid, deadline = self._target
                now = time.monotonic()
                if now < deadline:
                    self._cv.wait(deadline - now)
                    continue
                signal.pthread_kill(tid, WAKE_SIGNAL)
                self._cv.wait(0.002)


_WAKER = _Waker()
_handler_users = 0
_saved_handler = None


def _install_wake_handler() -> None:
    global _handler_users, _saved_handler
    if threading.current_thread() is not threading.main_thread():
        return  # cannot install; _check_wake_handler tells at the first HLT step
    if _handler_users == 0:
        _saved_handler = signal.signal(WAKE_SIGNAL, _ignore_signal)
    _handler_users += 1


def _release_wake_handler() -> None:
    global _handler_users
    if _handler_users == 0 or threading.current_thread() is not threading.main_thread():
        return
    _handler_users -= 1
    if _handler_users == 0:
        signal.signal(WAKE_SIGNAL, _saved_handler if _saved_handler is not None else 0)


def _check_wake_handler() -> None:
    if not callable(signal.getsignal(WAKE_SIGNAL)):
        raise RuntimeError(
            "a HLT step needs a Python handler for SIGUSR2: create the first Machine in the "
            "main thread"
        )


# ======================================================================================
# The machine
# ======================================================================================

TSS_ADDR = 0xFFFBD000
IDENTITY_MAP_ADDR = 0xFFFBC000
MAX_EXITS_PER_STEP = 10_000
_STACK_FRAME = struct.Struct("<IHH")  # pushed eax, then the interrupt frame's ip, cs


@dataclass
class _Vcpu:
    index: int
    fd: int
    run: mmap.mmap
    start_regs: bytes = b""
    init_sregs: bytes = b""
    init_events: bytes = b""
    init_lapic: bytes = b""
    io_data: int = 0x1000  # kvm_run.io.data_offset of the parked IN
    halted: bool = False
    delivered: list[int] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)

    def clear(self) -> None:
        self.delivered = []
        self.deliveries = []


class Machine:
    """A VM with an in-kernel irqchip and `ncpu` vCPUs parked on their command IN.

    After construction (and after `reset`): PICs masked (imr 0xFF), every LAPIC
    software-enabled with LVT0 masked, xAPIC, ID = cpu index, flat logical mode with logical
    ID 1 << cpu; all IOAPIC pins masked; IF=0; handlers EOI (flag 1).

    Extensions beyond the base API: `on_deliver` (a hook run at each handler's report
    exit), `deliveries(cpu)` (vector, interrupted IP and EAX of every handler run),
    `label(name)` (guest addresses), `nmi(cpu)`, `signal_msi(delivery_mode=...)`, the
    commands "sti_in" and "sti_int", and `irqchip="split"` (LAPIC in KVM, no PIC/IOAPIC:
    `interrupt`, `run_flags`, `request_interrupt_window`, `on_window`).
    """

    def __init__(self, ncpu: int = 1, *, irqchip: str = "full", hlt_timeout: float = 0.02):
        reason = availability()
        if reason is not None:
            raise KvmUnavailable(reason)
        if not 1 <= ncpu <= MAX_CPUS:
            raise ValueError(f"ncpu must be 1..{MAX_CPUS}")
        if irqchip not in ("full", "split"):
            raise ValueError('irqchip must be "full" or "split"')
        self.backend = detect_backend()
        self.ncpu = ncpu
        self.irqchip = irqchip
        self.hlt_timeout = hlt_timeout
        self.on_deliver: Callable[[int, int], None] | None = None
        self.on_window: Callable[[int], None] | None = None
        self.guest = build_guest()
        self._vcpus: list[_Vcpu] = []
        self._kvm = self._vm = -1
        self._mem: mmap.mmap | None = None
        self._in_step = False
        self._closed = False
        _install_wake_handler()
        try:
            self._create_vm()
            self._load_guest()
            for i in range(ncpu):
                self._create_vcpu(i)
            if irqchip == "full":
                self._init_irqchip()
            for v in self._vcpus:
                self._park(v)
                v.init_events = self._get(v.fd, k.KVM_GET_VCPU_EVENTS, k.SIZEOF_EVENTS)
                v.clear()
        except BaseException:
            self.close()
            raise

    # ---- construction ----
    def _create_vm(self) -> None:
        try:
            self._kvm = os.open(KVM_PATH, os.O_RDWR | os.O_CLOEXEC)
            self._vm = k.ioctl(self._kvm, k.KVM_CREATE_VM, 0)
        except OSError as e:
            raise KvmUnavailable(f"KVM_CREATE_VM failed: {e.strerror}") from e
        k.ioctl(self._vm, k.KVM_SET_TSS_ADDR, TSS_ADDR)
        ident = k.buffer(8)
        k.put_u64(ident, 0, IDENTITY_MAP_ADDR)
        k.ioctl(self._vm, k.KVM_SET_IDENTITY_MAP_ADDR, ident)
        if self.irqchip == "full":
            k.ioctl(self._vm, k.KVM_CREATE_IRQCHIP)
        else:
            if not k.ioctl(self._vm, k.KVM_CHECK_EXTENSION, k.CAP_SPLIT_IRQCHIP):
                raise KvmUnavailable("KVM_CAP_SPLIT_IRQCHIP is not supported")
            k.ioctl(self._vm, k.KVM_ENABLE_CAP, k.enable_cap(k.CAP_SPLIT_IRQCHIP, 24))
        self._mem = mmap.mmap(-1, MEM_SIZE)
        anchor = ctypes.c_char.from_buffer(self._mem)
        addr = ctypes.addressof(anchor)
        del anchor  # releases the buffer export; the mapping stays until close()
        region = k.memory_region(0, 0, MEM_SIZE, addr)
        k.ioctl(self._vm, k.KVM_SET_USER_MEMORY_REGION, region)

    def _load_guest(self) -> None:
        ivt = guest_ivt()
        self._mem[0 : len(ivt)] = ivt
        self._mem[STUBS : STUBS + len(self.guest.code)] = self.guest.code
        self._reset_memory()

    def _reset_memory(self) -> None:
        self._mem[EOI_FLAG] = 1
        self._mem[self.guest.int_imm] = DEFAULT_INT_VECTOR

    def _create_vcpu(self, i: int) -> None:
        fd = k.ioctl(self._vm, k.KVM_CREATE_VCPU, i)
        size = k.ioctl(self._kvm, k.KVM_GET_VCPU_MMAP_SIZE)
        run = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        v = _Vcpu(i, fd, run)
        self._vcpus.append(v)
        k.ioctl(fd, k.KVM_SET_CPUID2, k.supported_cpuid(self._kvm))
        sregs = self._get(fd, k.KVM_GET_SREGS, k.SIZEOF_SREGS)
        for off, base in ((k.SREG_CS, 0), (k.SREG_DS, k.LAPIC_BASE), (k.SREG_ES, k.IOAPIC_BASE)):
            self._set_segment(sregs, off, base)
        for off in (k.SREG_FS, k.SREG_GS, k.SREG_SS):
            self._set_segment(sregs, off, 0)
        v.init_sregs = bytes(sregs)
        regs = bytearray(k.SIZEOF_REGS)
        k.put_u64(regs, 8 * k.REG_RIP, self.guest.labels["main"])
        k.put_u64(regs, 8 * k.REG_RSP, stack_top(i))
        k.put_u64(regs, 8 * k.REG_RFLAGS, 0x2)  # IF=0
        v.start_regs = bytes(regs)
        lapic = self._get(fd, k.KVM_GET_LAPIC, k.SIZEOF_LAPIC)
        k.put_u32(lapic, k.APIC_SVR, k.u32(lapic, k.APIC_SVR) | k.APIC_SVR_ENABLE | 0xFF)
        k.put_u32(lapic, k.APIC_DFR, 0xFFFFFFFF)
        k.put_u32(lapic, k.APIC_LDR, (1 << i) << 24)
        if self.irqchip == "full":  # keep GSI 0-15 from arriving through the PIC as ExtINT
            k.put_u32(lapic, k.APIC_LVT0, k.u32(lapic, k.APIC_LVT0) | k.APIC_LVT_MASKED)
        v.init_lapic = bytes(lapic)
        self._restore_vcpu(v)

    @staticmethod
    def _set_segment(sregs: bytearray, off: int, base: int) -> None:
        fields = list(k.SEGMENT.unpack_from(sregs, off))
        fields[0], fields[1], fields[2] = base, 0xFFFF, 0  # base, limit, selector
        k.SEGMENT.pack_into(sregs, off, *fields)

    def _init_irqchip(self) -> None:
        for chip in (k.CHIP_PIC_MASTER, k.CHIP_PIC_SLAVE):
            state = self._get_irqchip(chip)
            state[8 + k.PIC_IMR] = 0xFF
            self._set_irqchip(state)
        ioapic = self._get_irqchip(k.CHIP_IOAPIC)
        for pin in range(k.IOAPIC_PINS):
            k.put_u64(ioapic, k.IOAPIC_REDIR_OFF + 8 * pin, k.RTE_MASK)
        self._set_irqchip(ioapic)
        self._init_chips = [bytes(self._get_irqchip(c)) for c in range(3)]

    def _restore_vcpu(self, v: _Vcpu) -> None:
        self._set(v.fd, k.KVM_SET_MP_STATE, struct.pack("<I", k.MP_RUNNABLE))
        self._set(v.fd, k.KVM_SET_SREGS, v.init_sregs)
        self._set(v.fd, k.KVM_SET_REGS, v.start_regs)
        if v.init_events:
            self._set(v.fd, k.KVM_SET_VCPU_EVENTS, v.init_events)
        self._set(v.fd, k.KVM_SET_LAPIC, v.init_lapic)

    def _park(self, v: _Vcpu) -> None:
        v.halted = False
        self._run(v, (), timeout=False)

    # ---- lifetime ----
    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for v in self._vcpus:
            v.run.close()
            os.close(v.fd)
        self._vcpus = []
        for fd in (self._vm, self._kvm):
            if fd >= 0:
                os.close(fd)
        self._vm = self._kvm = -1
        if self._mem is not None:
            self._mem.close()
            self._mem = None
        _release_wake_handler()

    def __enter__(self) -> Machine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # at interpreter exit: best effort
            if not self._closed:
                self.close()

    def reset(self) -> None:
        """Back to the state after __init__, in place: lines low, chips, vCPUs, memory."""
        if self.irqchip == "full":
            for gsi in range(k.IOAPIC_PINS):
                k.ioctl(self._vm, k.KVM_IRQ_LINE, k.irq_level(gsi, 0))
            for state in self._init_chips:
                self._set_irqchip(bytearray(state))
        for v in self._vcpus:
            self._leave_io(v)
            self._restore_vcpu(v)
        self._reset_memory()
        self.on_deliver = None
        self.on_window = None
        for v in self._vcpus:
            v.run[k.RUN_REQUEST_INTERRUPT_WINDOW] = 0
            self._park(v)
            v.clear()

    def _leave_io(self, v: _Vcpu) -> None:
        """KVM_RUN with immediate_exit: completes a pending IN without entering the guest."""
        v.run[k.RUN_IMMEDIATE_EXIT] = 1
        try:
            r, err = k.ioctl_raw(v.fd, k.KVM_RUN)
            if r < 0 and err not in (errno.EINTR, errno.EAGAIN):
                raise OSError(err, f"KVM_RUN (immediate_exit): {os.strerror(err)}")
        finally:
            v.run[k.RUN_IMMEDIATE_EXIT] = 0

    # ---- small ioctl helpers ----
    @staticmethod
    def _get(fd: int, request: int, size: int) -> bytearray:
        buf = k.buffer(size)
        k.ioctl(fd, request, buf)
        return bytearray(buf.raw)

    @staticmethod
    def _set(fd: int, request: int, data: bytes) -> None:
        buf = k.buffer(len(data))
        ctypes.memmove(buf, bytes(data), len(data))
        k.ioctl(fd, request, buf)

    def _get_irqchip(self, chip: int) -> bytearray:
        buf = k.irqchip(chip)
        k.ioctl(self._vm, k.KVM_GET_IRQCHIP, buf)
        return bytearray(buf.raw)

    def _set_irqchip(self, state: bytearray) -> None:
        self._set(self._vm, k.KVM_SET_IRQCHIP, state)

    def _need_full(self, what: str) -> None:
        if self.irqchip != "full":
            raise RuntimeError(f"{what} needs the in-kernel PIC/IOAPIC (irqchip='full')")

    # ---- host actions ----
    def irq_line(self, gsi: int, level: bool) -> int:
        """KVM_IRQ_LINE_STATUS: 1 delivered, 0 coalesced, -1 masked/refused (summed over
        the GSI's routes)."""
        self._need_full("irq_line")
        buf = k.irq_level(gsi, int(bool(level)))
        k.ioctl(self._vm, k.KVM_IRQ_LINE_STATUS, buf)
        return struct.unpack_from("<i", buf, 0)[0]

    def set_redir(
        self,
        pin: int,
        vector: int,
        *,
        trigger: str = "edge",
        mask: bool = False,
        dest: int = 0,
        dest_mode: str = "physical",
        delivery_mode: int = 0,
    ) -> None:
        """Rewrite one redirection entry through KVM_SET_IRQCHIP (read-modify-write).

        Keeps remote_irr, delivery status, polarity and the IOAPIC irr as KVM has them;
        KVM_SET_IRQCHIP re-injects every pin whose irr bit is set (unlike a guest write).
        """
        self._need_full("set_redir")
        if trigger not in ("edge", "level") or dest_mode not in ("physical", "logical"):
            raise ValueError("trigger is edge|level, dest_mode physical|logical")
        state = self._get_irqchip(k.CHIP_IOAPIC)
        off = k.IOAPIC_REDIR_OFF + 8 * pin
        keep = k.u64(state, off) & (k.RTE_DELIVERY_STATUS | k.RTE_POLARITY | k.RTE_REMOTE_IRR)
        entry = (
            keep
            | redir_low(
                vector, trigger=trigger, mask=mask, dest_mode=dest_mode, delivery_mode=delivery_mode
            )
            | (dest & 0xFF) << k.RTE_DEST_SHIFT
        )
        k.put_u64(state, off, entry)
        self._set_irqchip(state)

    def signal_msi(
        self,
        dest: int,
        vector: int,
        *,
        level_trigger: bool = False,
        dest_mode: str = "physical",
        delivery_mode: int = 0,
    ) -> int:
        """KVM_SIGNAL_MSI; returns KVM's result (>0 delivered, 0 no destination)."""
        address = k.LAPIC_BASE | (dest & 0xFF) << 12 | (4 if dest_mode == "logical" else 0)
        data = vector & 0xFF | (delivery_mode & 7) << 8 | 1 << 14  # assert
        if level_trigger:
            data |= 1 << 15
        return k.ioctl(self._vm, k.KVM_SIGNAL_MSI, k.msi(address, data))

    def set_lapic_reg(self, cpu: int, offset: int, value: int) -> None:
        """KVM_GET_LAPIC / KVM_SET_LAPIC read-modify-write of one 32-bit register."""
        v = self._vcpus[cpu]
        lapic = self._get(v.fd, k.KVM_GET_LAPIC, k.SIZEOF_LAPIC)
        k.put_u32(lapic, offset, value)
        self._set(v.fd, k.KVM_SET_LAPIC, lapic)

    def lapic_reg(self, cpu: int, offset: int) -> int:
        return k.u32(self._get(self._vcpus[cpu].fd, k.KVM_GET_LAPIC, k.SIZEOF_LAPIC), offset)

    def nmi(self, cpu: int) -> None:
        """KVM_NMI: queue an NMI on the vCPU (delivered through IVT vector 2)."""
        k.ioctl(self._vcpus[cpu].fd, k.KVM_NMI)

    def interrupt(self, cpu: int, vector: int) -> None:
        """KVM_INTERRUPT (split irqchip: the ExtINT buffer); raises OSError (EEXIST...)."""
        self._set(self._vcpus[cpu].fd, k.KVM_INTERRUPT, struct.pack("<I", vector))

    def run_flags(self, cpu: int) -> tuple[bool, bool]:
        """(ready_for_interrupt_injection, if_flag) of the vCPU's last exit."""
        run = self._vcpus[cpu].run
        return bool(run[k.RUN_READY_FOR_INTERRUPT_INJECTION]), bool(run[k.RUN_IF_FLAG])

    def request_interrupt_window(self, cpu: int, on: bool) -> None:
        self._vcpus[cpu].run[k.RUN_REQUEST_INTERRUPT_WINDOW] = int(on)

    def set_handler_eoi(self, mode: int) -> None:
        """0: handlers do not EOI; 1: xAPIC MMIO EOI before IRET (the default)."""
        if mode not in (0, 1):
            raise ValueError("EOI mode is 0 or 1")
        self._mem[EOI_FLAG] = mode

    # ---- guest steps ----
    def step(self, cpu: int, cmd: str, arg: int | None = None) -> tuple[int, ...]:
        """Run `cmd` on the vCPU until it parks on its IN again; the vectors delivered on
        it meanwhile, in order.

        A HLT with nothing able to wake it stops after `hlt_timeout` with the vCPU halted.
        A step on a halted vCPU only resumes it: `cmd` is not executed; the step ends when
        the vCPU parks again, or after another timeout if nothing woke it.
        """
        if self._in_step:
            raise RuntimeError("step() called from inside a step (a delivery hook)")
        if cmd not in COMMANDS:
            raise ValueError(f"unknown command {cmd!r}; one of {', '.join(COMMANDS)}")
        v = self._vcpus[cpu]
        start = len(v.delivered)
        if v.halted:
            self._run(v, (), timeout=True)
            return tuple(v.delivered[start:])
        args = self._operands(cmd, arg)
        v.run[v.io_data] = COMMANDS[cmd]
        self._run(v, args, timeout=cmd in HLT_COMMANDS)
        return tuple(v.delivered[start:])

    def _operands(self, cmd: str, arg: int | None) -> tuple[int, ...]:
        if cmd == "tpr":
            return (_required(cmd, arg),)
        if cmd == "ioapic_write":
            value = _required(cmd, arg)
            return (0x10 + 2 * (value >> 32), value & 0xFFFFFFFF)
        if cmd == "sti_int":
            self._mem[self.guest.int_imm] = DEFAULT_INT_VECTOR if arg is None else arg & 0xFF
        return ()

    def _run(self, v: _Vcpu, args: tuple[int, ...], *, timeout: bool) -> None:
        """KVM_RUN until the vCPU parks on `in al, 0xF0` (or stays halted past the timeout)."""
        pending = list(args)
        deadline = None
        if timeout:
            _check_wake_handler()
            deadline = time.monotonic() + self.hlt_timeout
            _WAKER.arm(self.hlt_timeout)
        self._in_step = True
        try:
            for _ in range(MAX_EXITS_PER_STEP):
                r, err = k.ioctl_raw(v.fd, k.KVM_RUN)
                if r < 0:
                    if err not in (errno.EINTR, errno.EAGAIN):
                        raise OSError(err, f"KVM_RUN: {os.strerror(err)}")
                    if deadline is not None and time.monotonic() >= deadline:
                        if self._mp_state(v) == k.MP_HALTED:
                            v.halted = True
                            return
                    continue
                if self._exit(v, pending):
                    v.halted = False
                    return
            raise RuntimeError(f"vCPU {v.index} did not park within {MAX_EXITS_PER_STEP} exits")
        finally:
            self._in_step = False
            if timeout:
                _WAKER.disarm()

    def _exit(self, v: _Vcpu, pending: list[int]) -> bool:
        """Handle one exit; True when the vCPU has parked on its command IN."""
        run = v.run
        reason = k.u32(run, k.RUN_EXIT_REASON)
        if reason == k.EXIT_IO:
            direction, size, port, _count, data = k.RUN_IO.unpack_from(run, k.RUN_EXIT)
            if direction == k.IO_IN and port == PORT_CMD:
                v.io_data = data
                return True
            if direction == k.IO_OUT and port == PORT_VECTOR:
                self._delivered(v, run[data])
                return False
            if direction == k.IO_IN and port in (PORT_ARG0, PORT_ARG1) and pending:
                k.put_u32(run, data, pending.pop(0))
                return False
        elif reason == k.EXIT_INTR:
            return False
        elif reason == k.EXIT_IRQ_WINDOW_OPEN:
            run[k.RUN_REQUEST_INTERRUPT_WINDOW] = 0
            if self.on_window is not None:
                self.on_window(v.index)
            return False
        raise RuntimeError(f"vCPU {v.index}: unexpected exit {self._describe_exit(v)}")

    def _describe_exit(self, v: _Vcpu) -> str:
        run = v.run
        reason = k.u32(run, k.RUN_EXIT_REASON)
        name = k.EXIT_NAMES.get(reason, str(reason))
        if reason == k.EXIT_IO:
            d, size, port, count, _ = k.RUN_IO.unpack_from(run, k.RUN_EXIT)
            return f"{name} {'out' if d else 'in'} port {port:#x} size {size} count {count}"
        if reason == k.EXIT_MMIO:
            addr, data, length, write = k.RUN_MMIO.unpack_from(run, k.RUN_EXIT)
            return f"{name} {'write' if write else 'read'} {addr:#x} len {length}"
        if reason == k.EXIT_INTERNAL_ERROR:
            sub, n, *data = k.RUN_INTERNAL.unpack_from(run, k.RUN_EXIT)
            return f"{name} suberror {sub} data {[hex(d) for d in data[:n]]}"
        rip = k.u64(self._get(v.fd, k.KVM_GET_REGS, k.SIZEOF_REGS), 8 * k.REG_RIP)
        return f"{name} at rip {rip:#x}"

    def _delivered(self, v: _Vcpu, vector: int) -> None:
        regs = self._get(v.fd, k.KVM_GET_REGS, k.SIZEOF_REGS)
        sp = k.u64(regs, 8 * k.REG_RSP) & 0xFFFF
        eax, ip, cs = _STACK_FRAME.unpack_from(self._mem, sp)
        v.delivered.append(vector)
        v.deliveries.append(Delivery(vector, cs * 16 + ip, eax))
        if self.on_deliver is not None:
            self.on_deliver(v.index, vector)

    def _mp_state(self, v: _Vcpu) -> int:
        return struct.unpack("<I", self._get(v.fd, k.KVM_GET_MP_STATE, 4))[0]

    # ---- observation ----
    def snapshot(self) -> Snapshot:
        irr, redir = 0, ()
        if self.irqchip == "full":
            state = self._get_irqchip(k.CHIP_IOAPIC)
            _base, _sel, _id, irr, _pad = k.IOAPIC_HEADER.unpack_from(state, k.IOAPIC_STATE_OFF)
            redir = tuple(Redir.decode(k.u64(state, k.IOAPIC_REDIR_OFF + 8 * p)) for p in range(24))
        return Snapshot(
            ioapic_irr=irr,
            redir=redir,
            cpus=tuple(self._cpu_snap(v) for v in self._vcpus),
            delivered=tuple(tuple(v.delivered) for v in self._vcpus),
        )

    def _cpu_snap(self, v: _Vcpu) -> CpuSnap:
        lapic = self._get(v.fd, k.KVM_GET_LAPIC, k.SIZEOF_LAPIC)
        regs = self._get(v.fd, k.KVM_GET_REGS, k.SIZEOF_REGS)
        events = self._get(v.fd, k.KVM_GET_VCPU_EVENTS, k.SIZEOF_EVENTS)
        return CpuSnap(
            irr=k.vector_set(lapic, k.APIC_IRR),
            isr=k.vector_set(lapic, k.APIC_ISR),
            tmr=k.vector_set(lapic, k.APIC_TMR),
            tpr=k.u32(lapic, k.APIC_TPR) & 0xFF,
            ppr=k.u32(lapic, k.APIC_PPR) & 0xFF,
            if_flag=bool(k.u64(regs, 8 * k.REG_RFLAGS) & k.RFLAGS_IF),
            shadow=events[k.EV_INTERRUPT_SHADOW],
            mp_state=self._mp_state(v),
            halted=v.halted,
        )

    def deliveries(self, cpu: int) -> tuple[Delivery, ...]:
        """Every handler run on the vCPU since reset: vector, interrupted IP, EAX."""
        return tuple(self._vcpus[cpu].deliveries)

    def guest_cpuid(self) -> list[tuple[int, int, int, int, int, int]]:
        """KVM_GET_SUPPORTED_CPUID: (function, index, eax, ebx, ecx, edx) per leaf."""
        return k.cpuid_entries(k.supported_cpuid(self._kvm))

    def is_halted(self, cpu: int) -> bool:
        return self._vcpus[cpu].halted

    def label(self, name: str) -> int:
        """The guest address of an interpreter label, e.g. "sti_nop.after" or "dispatch"."""
        return self.guest.labels[name]


def redir_low(
    vector: int,
    *,
    trigger: str = "edge",
    mask: bool = False,
    dest_mode: str = "physical",
    delivery_mode: int = 0,
) -> int:
    """The low dword of a redirection entry (what a guest IOWIN write of it carries)."""
    return (
        vector & 0xFF
        | (delivery_mode & 7) << k.RTE_DELIVERY_MODE_SHIFT
        | (k.RTE_DEST_LOGICAL if dest_mode == "logical" else 0)
        | (k.RTE_LEVEL if trigger == "level" else 0)
        | (k.RTE_MASK if mask else 0)
    )


def _required(cmd: str, arg: int | None) -> int:
    if arg is None:
        raise ValueError(f"command {cmd!r} needs an argument")
    return arg
