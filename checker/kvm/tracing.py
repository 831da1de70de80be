"""KVM's own tracepoints (tracefs) recorded while the harness runs.

`Tracer` mounts tracefs if it is not mounted (root only), creates a private trace
instance, enables a few `kvm:*` events and hands back the events recorded since the last
call, parsed. Everything it set up is undone on close (the instance removed, tracefs
unmounted if it mounted it). Where tracefs cannot be used, `TraceUnavailable` says why.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

EVENTS = ("kvm_set_irq", "kvm_ioapic_set_irq", "kvm_apic_accept_irq", "kvm_eoi")

_LINE = re.compile(r":\s+(kvm_\w+):\s+(.*)$")
_FIELDS = {
    "kvm_set_irq": re.compile(r"gsi (\d+) level (-?\d+) source (-?\d+)"),
    "kvm_ioapic_set_irq": re.compile(
        r"pin (\d+) dst ([0-9a-f]+) vec (\d+) \((\w+)\|(\w+)\|(\w+)(\|masked)?\)( \(coalesced\))?"),
    "kvm_apic_accept_irq": re.compile(r"apicid ([0-9a-f]+) vec (\d+) \((\w+)\|(\w+)\)"),
    "kvm_eoi": re.compile(r"apicid ([0-9a-f]+) vector (-?\d+)"),
}


class TraceUnavailable(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Event:
    name: str
    fields: dict

    def __str__(self) -> str:
        return f"{self.name}: " + " ".join(f"{k}={v}" for k, v in self.fields.items())


def parse(line: str) -> Event | None:
    m = _LINE.search(line)
    if not m or m.group(1) not in _FIELDS:
        return None
    name, rest = m.groups()
    f = _FIELDS[name].match(rest)
    if not f:
        return None
    g = f.groups()
    if name == "kvm_set_irq":
        return Event(name, {"gsi": int(g[0]), "level": int(g[1]), "source": int(g[2])})
    if name == "kvm_ioapic_set_irq":
        return Event(name, {"pin": int(g[0]), "dst": int(g[1], 16), "vec": int(g[2]),
                            "dest_mode": g[4], "trigger": g[5], "masked": bool(g[6]),
                            "coalesced": bool(g[7])})
    if name == "kvm_apic_accept_irq":
        return Event(name, {"apicid": int(g[0], 16), "vec": int(g[1]), "trigger": g[3]})
    return Event(name, {"apicid": int(g[0], 16), "vector": int(g[1])})


class Tracer:
    def __init__(self, events=EVENTS):
        if os.geteuid() != 0:
            raise TraceUnavailable("tracefs needs root")
        self._mounted: Path | None = None
        root = self._find_mount()
        if root is None:
            d = Path(tempfile.mkdtemp(prefix="irqcheck-tracefs-"))
            r = subprocess.run(["mount", "-t", "tracefs", "nodev", str(d)],
                               capture_output=True, text=True)
            if r.returncode != 0:
                d.rmdir()
                raise TraceUnavailable(f"cannot mount tracefs: {r.stderr.strip()}")
            self._mounted = root = d
        self.dir = root / "instances" / f"irqcheck_{os.getpid()}"
        try:
            self.dir.mkdir()
            for e in events:
                (self.dir / "events" / "kvm" / e / "enable").write_text("1")
            self._pipe = os.open(self.dir / "trace_pipe", os.O_RDONLY | os.O_NONBLOCK)
        except OSError as err:
            self.close()
            raise TraceUnavailable(f"cannot set up a trace instance: {err}") from None
        self._rest = b""

    @staticmethod
    def _find_mount() -> Path | None:
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            if len(parts) > 2 and parts[2] == "tracefs":
                return Path(parts[1])
        return None

    def _drain(self) -> bytes:
        chunks = [self._rest]
        while True:
            try:
                b = os.read(self._pipe, 1 << 16)
            except BlockingIOError:
                break
            if not b:
                break
            chunks.append(b)
        data = b"".join(chunks)
        cut = data.rfind(b"\n") + 1
        self._rest = data[cut:]
        return data[:cut]

    def clear(self) -> None:
        """Forget what was recorded so far."""
        self._drain()
        self._rest = b""

    def read(self) -> list[Event]:
        """The events recorded since the last read (or clear), in order (trace_pipe
        consumes them)."""
        text = self._drain().decode(errors="replace")
        return [e for e in map(parse, text.splitlines()) if e is not None]

    def close(self) -> None:
        if getattr(self, "_pipe", None) is not None:
            os.close(self._pipe)
            self._pipe = None
        # best effort: whatever cannot be undone is left as it is
        if self.dir.exists():
            for e in EVENTS:
                with contextlib.suppress(OSError):
                    (self.dir / "events" / "kvm" / e / "enable").write_text("0")
            with contextlib.suppress(OSError):
                self.dir.rmdir()
        if self._mounted is not None:
            subprocess.run(["umount", str(self._mounted)], capture_output=True)
            with contextlib.suppress(OSError):
                self._mounted.rmdir()
            self._mounted = None

    def __enter__(self) -> Tracer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
