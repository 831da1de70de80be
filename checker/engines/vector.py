"""The vector engine: level-synchronous BFS over whole frontiers of packed states.

Every BFS level is an array of states (W `uint64` words each, see vcompile.py),
expanded in chunks: each rule instance computes its guard mask over the chunk
and its successors for the rows where it holds, with NumPy operations only.
The successors of a chunk are deduplicated by sorting, then added to the
visited set, an open-addressing hash table held in NumPy arrays; the states
that were not there form the next level.

The levels are kept, in a temporary file (LevelStore): a counterexample is
rebuilt backwards from the violating state, looking in each level for a
predecessor, and each step is then replayed on the scalar engine, which also
words the report. The result has the same shape as the explicit engine's.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import functools
import gc
import mmap
import os
import tempfile
import time
from dataclasses import dataclass, field, replace

import numpy as np

from checker import ir
from checker.engines.codegen import _RuntimeFault
from checker.engines.compiled import CompiledSystem
from checker.engines.explicit import Options, _current_rss_bytes, _rss_mb, _Search, stuck_reason
from checker.engines.layout import Layout
from checker.engines.vcompile import U64, Frame, Unsupported, VectorSystem, _cv
from checker.result import PropertyResult, Result, Stats, Status, Verdict, make_step

_MUL = [U64(0x9E37_79B9_7F4A_7C15), U64(0xC2B2_AE3D_27D4_EB4F), U64(0x1656_67B1_9E37_79F9),
        U64(0x85EB_CA77_C2B2_AE63)]


_INTP64 = np.dtype(np.intp).itemsize == 8
_RELEASE = 1 << 21  # pages are given back in huge-page units
_INV0 = U64(pow(int(_MUL[0]), -1, 1 << 64))


@functools.cache
def _malloc_trim():
    try:
        return ctypes.CDLL(None).malloc_trim  # glibc
    except (OSError, AttributeError):
        return None


def _trim_heap() -> None:
    """Hand the C allocator's free memory back to the system (a no-op without glibc).
    Called before the visited set grows: the freed temporaries of the last chunk would
    otherwise stay resident while the new table fills."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _close_maps(maps) -> None:
    for mm in maps:
        with contextlib.suppress(BufferError):  # a view still alive: the GC frees it
            mm.close()


def _hash(words: list[np.ndarray]) -> np.ndarray:
    """A 64-bit mix of the words of each row; the top bits choose the slot. For fixed
    other words it is a bijection of the first word (an xor, a multiplication by an odd
    constant, an xor-shift), so rows with equal mixes and equal other words are equal."""
    if len(words) == 1:
        return words[0] * _MUL[0]
    g = words[1] * _MUL[1]
    for i, w in enumerate(words[2:], 2):
        g = (g ^ (g >> U64(29))) + w * _MUL[i % len(_MUL)]
    h = (words[0] ^ g) * _MUL[0]
    return h ^ (h >> U64(32))


def _word_dtype(bits: int, first: bool):
    """The narrowest unsigned type for a word of the visited set. The first word keeps its
    all-ones value free: it marks an empty slot."""
    for dt in (np.uint8, np.uint16, np.uint32, np.uint64):
        width = np.iinfo(dt).bits
        if bits < width or (bits == width and not first):
            return dt
    raise ValueError(bits)


class VisitedSet:
    """An open-addressing (linear probing) hash set of W-word states in NumPy arrays.

    Each word is stored in the narrowest type its bits need. Optionally every state
    keeps its number in discovery order. Rows arrive sorted by hash and the slot is the
    top bits of the hash, so a batch of probes walks the table from low addresses to high
    ones, and growing the table is a merge-like pass over it, block by block, that gives
    each old block's pages back once it is copied (the arrays are anonymous memory
    maps), so a growth costs about one table, not two.
    The table grows fourfold up to 4M slots, at half load while it is below SMALL slots,
    then doubles at max_load."""

    GROW_BLOCK = 1 << 14  # old slots per step of a growth: small steps, small temporaries
    TAIL = 128  # rows left of long probe chains that are probed one by one
    SMALL = 1 << 22  # below this many slots (a few MB) the table grows at half load

    def __init__(self, bits: list[int], log2: int = 16, max_load: float = 0.8,
                 ids: bool = False):
        self.words = len(bits)
        self.dtypes = [_word_dtype(b, w == 0) for w, b in enumerate(bits)]
        # the first word is stored XOR this mark, so that an empty slot is 0 and a new
        # table is zeroed memory (calloc: no fill pass); no state's first word is the mark
        self.mark = self.dtypes[0](np.iinfo(self.dtypes[0]).max)
        self.mark64 = U64(int(self.mark))
        self.empty = self.dtypes[0](0)
        self.max_load = max_load
        self.count = 0
        self.with_ids = ids  # each state's number: its discovery order
        self._alloc(log2)

    def _alloc(self, log2: int) -> None:
        self.log2 = log2
        self.cap = 1 << log2
        self.mask = self.cap - 1
        self._maps = []
        self.keys = [self._zeros(dt) for dt in self.dtypes]
        self.ids = None
        if self.with_ids:
            self.ids = self._zeros(np.int32)
            self.ids.fill(-1)

    def free(self) -> None:
        """Give the table's memory back; the counts (count, load, nbytes) stay."""
        self.keys, self.ids = [], None
        _close_maps(self._maps)
        self._maps = []

    def _zeros(self, dtype) -> np.ndarray:
        """A zeroed array of cap entries in its own anonymous memory map: its pages cost
        nothing until touched, and _grow hands them back while it empties the table."""
        # private: freed pages go back to the system (a shared map would keep them), and
        # transparent huge pages apply
        mm = mmap.mmap(-1, self.cap * np.dtype(dtype).itemsize,
                       flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        if hasattr(mmap, "MADV_HUGEPAGE"):  # fewer TLB misses on random probes
            mm.madvise(mmap.MADV_HUGEPAGE)
        self._maps.append(mm)
        return np.frombuffer(mm, dtype=dtype, count=self.cap)

    def _release(self, arrays, maps, lo: int, hi: int) -> None:
        """Give back the pages of slots [lo, hi) of old arrays (whole pages only)."""
        for arr, mm in zip(arrays, maps):
            a = -(-lo * arr.itemsize // _RELEASE) * _RELEASE
            z = hi * arr.itemsize // _RELEASE * _RELEASE
            if z > a:
                mm.madvise(mmap.MADV_DONTNEED, a, z - a)

    @property
    def load(self) -> float:
        return self.count / self.cap

    @property
    def nbytes(self) -> int:
        per = sum(np.dtype(dt).itemsize for dt in self.dtypes)
        per += 4 if self.with_ids else 0
        return self.cap * per

    def _limit(self) -> float:
        """States that fill the table: a small table (below SMALL slots, a few MB) is grown
        at half load, where probe chains are short; a big one at max_load."""
        return (0.5 if self.cap < self.SMALL else self.max_load) * self.cap

    def _home(self, h: np.ndarray, log2: int | None = None, inplace: bool = False):
        home = np.right_shift(h, U64(64 - (log2 or self.log2)), out=h if inplace else None)
        # below 2**63 after the shift: on 64-bit machines the same bits read as intp
        return home.view(np.intp) if _INTP64 else home.astype(np.intp)

    def add(self, rows: list[np.ndarray], h: np.ndarray):
        """Insert distinct rows with their hashes; returns the mask of the new ones (and,
        when the set keeps ids, every row's id: new rows are numbered in row order).

        No copy of the batch is made: h is used up (it becomes the rows' home slots, in
        place), and the first word of the rows takes its stored form while the call runs
        (it is restored at the end)."""
        n = len(rows[0])
        # grow when full, or when this batch might overfill the table: the soft limit
        # leaves a table that the last levels just fill alone
        while self.count > self._limit() or self.count + n > 0.9 * self.cap:
            self._grow()
        new = np.zeros(n, dtype=bool)
        row_ids = np.empty(n, dtype=np.int32) if self.with_ids else None
        if n == 0:
            return (new, row_ids) if self.with_ids else new
        r0 = rows[0]
        r0 ^= self.mark64  # the stored form of the first word
        try:
            return self._add(rows, self._home(h, inplace=True), new, row_ids)
        finally:
            r0 ^= self.mark64

    def _add(self, rows, slot, new, row_ids):
        keys, W, empty_mark = self.keys, self.words, self.empty
        k0, r0 = keys[0], rows[0]
        won_rows, won_slots = [], []
        first = self.count

        # First probe of every row. Rows come sorted by home slot, so the rows that find
        # the same empty slot are neighbours: the first of them takes it.
        cur = k0[slot]
        same = cur == r0
        self._match_rest(same, slot, rows, None)
        empty = cur == empty_mark
        del cur
        if row_ids is not None and same.any():
            f_rows = np.flatnonzero(same)
            row_ids[f_rows] = self.ids[slot[f_rows]]
        e_rows = np.flatnonzero(empty)
        retry = None
        if len(e_rows):
            e_s = slot[e_rows]
            if len(e_s) > 1 and (e_s[1:] < e_s[:-1]).any():
                raise ValueError("visited set: rows must come sorted by home slot")
            lead = np.ones(len(e_s), dtype=bool)
            np.not_equal(e_s[1:], e_s[:-1], out=lead[1:])
            w_rows, w_s = e_rows[lead], e_s[lead]
            for w in range(W):
                keys[w][w_s] = rows[w][w_rows]
            new[w_rows] = True
            self.count += len(w_rows)
            if row_ids is not None:
                won_rows.append(w_rows)
                won_slots.append(w_s)
            retry = e_rows[~lead]
        np.logical_or(same, empty, out=same)
        pending = np.flatnonzero(~same)
        if retry is not None and len(retry):
            pending = np.concatenate([retry, pending])

        # The others probe on, one slot further each round, in any order: a claim is
        # written, then read back to see who got the slot. The pending rows carry their
        # slot and first word along, so a round reads nothing else of them. The last few
        # rows of long probe chains go one by one: a round of array operations costs
        # more than them.
        mask = self.mask
        p_s = slot[pending]
        p_k = r0[pending]
        while len(pending) > self.TAIL:
            p_s += 1
            p_s &= mask
            cur = k0[p_s]
            same = cur == p_k
            self._match_rest(same, p_s, rows, pending)
            if row_ids is not None and same.any():
                row_ids[pending[same]] = self.ids[p_s[same]]
            empty = cur == empty_mark
            del cur
            e = np.flatnonzero(empty)
            if len(e):
                e_rows, e_s = pending[e], p_s[e]
                keys[0][e_s] = p_k[e]  # the last writer of a slot wins, for every word alike
                for w in range(1, W):
                    keys[w][e_s] = rows[w][e_rows]
                won = k0[e_s] == p_k[e]
                for w in range(1, W):
                    won &= keys[w][e_s] == rows[w][e_rows]
                w_rows, w_s = e_rows[won], e_s[won]
                new[w_rows] = True
                self.count += len(w_rows)
                if row_ids is not None:
                    won_rows.append(w_rows)
                    won_slots.append(w_s)
                empty[e[~won]] = False  # the losers go on after the slot they lost
            np.logical_or(same, empty, out=same)
            go = ~same
            pending, p_s, p_k = pending[go], p_s[go], p_k[go]
        slot[pending] = p_s
        if len(pending):
            self._probe_each(pending, slot, rows, new, row_ids, won_rows, won_slots)
        if row_ids is None:
            return new
        if won_rows:
            wr, ws = np.concatenate(won_rows), np.concatenate(won_slots)
            order = np.argsort(wr)
            numbers = np.arange(first, first + len(wr), dtype=np.int32)
            row_ids[wr[order]] = numbers
            self.ids[ws[order]] = numbers
        return new, row_ids

    def _match_rest(self, same, slot, rows, pending) -> None:
        """Narrow `same` (the first words match) to the rows whose other words match too;
        only those rows read the other words of their slot."""
        if self.words == 1:
            return
        at = np.flatnonzero(same)
        if not len(at):
            return
        s = slot[at]
        r = at if pending is None else pending[at]
        ok = self.keys[1][s] == rows[1][r]
        for w in range(2, self.words):
            ok &= self.keys[w][s] == rows[w][r]
        same[at] = ok

    def _probe_each(self, pending, slot, rows, new, row_ids, won_rows, won_slots):
        """Linear probing row by row (for the few rows left of long chains)."""
        keys, W, mask, empty = self.keys, self.words, self.mask, int(self.empty)
        k0 = keys[0]
        got_rows, got_slots = [], []
        for r in pending.tolist():
            want = [int(rows[w][r]) for w in range(W)]
            s = int(slot[r])
            while True:
                s = (s + 1) & mask
                cur = k0.item(s)
                if cur == empty:
                    for w in range(W):
                        keys[w][s] = want[w]
                    new[r] = True
                    self.count += 1
                    got_rows.append(r)
                    got_slots.append(s)
                    break
                if cur == want[0] and all(keys[w].item(s) == want[w] for w in range(1, W)):
                    if row_ids is not None:
                        row_ids[r] = self.ids[s]
                    break
        if row_ids is not None and got_rows:
            won_rows.append(np.array(got_rows, dtype=np.intp))
            won_slots.append(np.array(got_slots, dtype=np.intp))

    def _grow(self) -> None:
        """Grow the table (fourfold or twofold, see the class). Old slots are taken block
        by block; the entries whose home is in a block are sorted by hash and laid out in
        the new table in one pass (linear probing of a sorted batch is a running maximum),
        continuing where the previous block stopped."""
        _trim_heap()
        old_keys, old_ids = self.keys, self.ids
        old_maps = self._maps
        old_arrays = [a for a in [*old_keys, old_ids] if a is not None]
        old_log2, old_cap = self.log2, self.cap
        e = self.empty
        self._alloc(old_log2 + (2 if old_log2 < 21 else 1))  # x4 up to 4M slots: fewer passes
        self.count = 0
        last = -1
        overflow = []
        k0 = old_keys[0]
        # the run at the start of the table is read again by the last block (it wraps)
        keep = self._run_end(k0, 0) + 1
        for a in range(0, old_cap, self.GROW_BLOCK):
            self._release(old_arrays, old_maps, keep, a)  # slots below a are done
            b = min(a + self.GROW_BLOCK, old_cap)
            end = self._run_end(k0, b)  # the run that crosses b belongs partly to [a, b)
            spans = [(a, min(end, old_cap))]
            if end > old_cap and a > 0:  # the last run wraps to the start of the table
                spans.append((0, min(end - old_cap, a)))
            pos = np.concatenate([np.arange(x, y) for x, y in spans])
            pos = pos[k0[pos] != e]
            if not len(pos):
                continue
            rows = [k[pos].astype(np.uint64) for k in old_keys]
            rows[0] ^= self.mark64  # the hash is of the state itself
            h = _hash(rows)
            home = self._home(h, old_log2)
            mine = (home >= a) & (home < b)
            order = np.flatnonzero(mine)[np.argsort(h[mine])]
            if not len(order):
                continue
            rows = [w[order] for w in rows]
            rows[0] ^= self.mark64  # stored form again
            nh = self._home(h[order])
            ramp = np.arange(len(order), dtype=np.intp)
            q = np.maximum(np.maximum.accumulate(nh - ramp), last + 1)
            new_pos = q + ramp
            fits = new_pos < self.cap
            at = new_pos[fits]
            for w in range(self.words):
                self.keys[w][at] = rows[w][fits]
            if old_ids is not None:
                self.ids[at] = old_ids[pos[order]][fits]
            self.count += len(at)
            if len(at):
                last = int(at[-1])
            if not fits.all():
                sel = ~fits
                overflow.append(([w[sel] for w in rows],
                                 old_ids[pos[order]][sel] if old_ids is not None else None))
        for rows, ids in overflow:  # past the end of the table: probe from the start
            for i in range(len(rows[0])):
                plain = [w[i:i + 1] for w in rows]
                plain[0] = plain[0] ^ self.mark64
                s = int(self._home(_hash(plain))[0])
                while self.keys[0][s] != e:
                    s = (s + 1) & self.mask
                for w in range(self.words):
                    self.keys[w][s] = rows[w][i]
                if ids is not None:
                    self.ids[s] = ids[i]
                self.count += 1
        del old_keys, old_ids, old_arrays, k0
        _close_maps(old_maps)

    def _run_end(self, k0: np.ndarray, b: int) -> int:
        """The first empty slot at or after b (beyond the end of the table: wrapped)."""
        cap = len(k0)
        x = b
        while x < b + cap:
            i = x % cap
            seg = k0[i:min(i + 4096, cap)]
            hole = np.flatnonzero(seg == self.empty)
            if len(hole):
                return x + int(hole[0])
            x += len(seg)
        raise RuntimeError("visited set: no empty slot")


class LevelStore:
    """The BFS levels of a search, for rebuilding counterexamples: each level is written,
    as it is made, to an unnamed temporary file, and read back only when a counterexample
    needs it. (Like TLC's trace file: the states wait in the file system's cache, or on
    disk, not in this process's memory.) Each word takes the narrowest type its bits
    need. Where no temporary file can be written, the levels stay in memory."""

    def __init__(self, bits: list[int]):
        self.dtypes = [np.dtype(_word_dtype(b, False)) for b in bits]
        self.where: list[tuple[int, int]] = []  # (offset, states) of each level in the file
        self.memory: list[list[np.ndarray]] | None = None
        self.size = 0
        try:
            self.file = tempfile.TemporaryFile(prefix="irqcheck-levels-")
        except OSError:
            self.file, self.memory = None, []

    def append(self, words: list[np.ndarray]) -> None:
        narrow = [w.astype(dt) for w, dt in zip(words, self.dtypes)]
        if self.file is not None:
            try:
                for w in narrow:
                    self.file.write(memoryview(w))
                self.file.flush()  # read back with pread, past the file object's buffer
                self.where.append((self.size, len(words[0])))
                self.size += sum(w.nbytes for w in narrow)
                return
            except OSError:  # the file system is full: from here on, in memory
                self.memory = [self._read(i) for i in range(len(self.where))]  # flushed
                self.close()
        self.memory.append(narrow)

    def _read(self, level: int) -> list[np.ndarray]:
        at, n = self.where[level]
        out = []
        for dt in self.dtypes:
            out.append(np.frombuffer(os.pread(self.file.fileno(), n * dt.itemsize, at), dt))
            at += n * dt.itemsize
        return out

    def get(self, level: int) -> list[np.ndarray]:
        """The states of a level (as uint64 words), in the order they were expanded."""
        words = self.memory[level] if self.file is None else self._read(level)
        return [w.astype(np.uint64) for w in words]

    def close(self) -> None:
        if self.file is not None:
            with contextlib.suppress(OSError):  # unflushed bytes of a full file system
                self.file.close()
            self.file = None


def dedup(rows: list[np.ndarray], key: np.ndarray | None = None, inverse: bool = False,
          h: np.ndarray | None = None, consume: bool = False):
    """Distinct rows sorted by hash: (rows, hashes, the least key among each row's copies,
    and with inverse=True the position of every input row among the distinct ones).
    With consume=True the rows' arrays may be overwritten (no copy of the batch)."""
    n = len(rows[0])
    if len(rows) == 1 and key is None and not inverse:
        if consume:
            h = rows[0]
            h *= _MUL[0]
        else:
            h = rows[0] * _MUL[0]
        h.sort()  # in place: np.sort would copy
        if n > 1:
            keep = np.empty(n, dtype=bool)
            keep[0] = True
            np.not_equal(h[1:], h[:-1], out=keep[1:])
            h = h[keep]
        return [h * _INV0], h, None, None
    if h is None:
        h = _hash(rows)
    b = max(1, (n - 1).bit_length())  # sort the top bits of h with the row number below
    packed = ((h >> U64(b)) << U64(b)) | np.arange(n, dtype=np.uint64)
    order = (np.sort(packed) & U64((1 << b) - 1)).astype(np.intp)
    del packed
    sh = h[order]
    if n <= 1:
        return [w[order] for w in rows], sh, key, \
            (np.zeros(n, dtype=np.intp) if inverse else None)
    # equal mixes and equal other words mean equal states (the first word is not read)
    rest = [w[order] for w in rows[1:]]
    same_h = (sh[1:] >> U64(b)) == (sh[:-1] >> U64(b))
    same = same_h & (sh[1:] == sh[:-1])
    for w in rest:
        same &= w[1:] == w[:-1]
    if (same_h & ~same).any():  # equal top bits, different states: sort by hash and words
        order = np.lexsort(rows[::-1] + [h])
        sh, rest = h[order], [w[order] for w in rows[1:]]
        same = sh[1:] == sh[:-1]
        for w in rest:
            same &= w[1:] == w[:-1]
    keep = np.empty(n, dtype=bool)
    keep[0] = True
    keep[1:] = ~same
    least = None
    if key is not None:
        least = np.minimum.reduceat(key[order], np.flatnonzero(keep))
    inv = None
    if inverse:
        inv = np.empty(n, dtype=np.intp)
        inv[order] = np.cumsum(keep) - 1
    return [rows[0][order[keep]]] + [w[keep] for w in rest], sh[keep], least, inv


@dataclass
class Found:
    """First violations, as (words, level) of a state, or for action properties
    ((words, level) of the source state, instance id)."""

    invariants: dict = field(default_factory=dict)
    actions: dict = field(default_factory=dict)
    reached: dict = field(default_factory=dict)
    deadlock: tuple | None = None
    fault: tuple | None = None  # (words, level, 'rule' | 'state')


@dataclass
class Profile:
    seconds: list
    fired: list
    new: list
    dedup_seconds: float = 0.0
    check_seconds: float = 0.0


class StopVector(Exception):
    """Ends the search early; its text is the status ('timeout', 'fault', ...)."""


def _cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def least_row(words: list[np.ndarray], mask: np.ndarray | None = None) -> int:
    """The row holding the least state (as a number: the last word most significant),
    among the rows where mask holds (all rows without a mask)."""
    rows = np.flatnonzero(mask) if mask is not None else np.arange(len(words[0]))
    if len(words) == 1:
        return int(rows[np.argmin(words[0][rows])])
    order = np.lexsort([w[rows] for w in words])
    return int(rows[order[0]])


def sort_level(words: list[np.ndarray]) -> list[np.ndarray]:
    """A level in increasing order of state (of its most significant word when it has
    several): predecessors are looked for in a fixed order, and guard masks come in long
    runs."""
    if len(words) == 1:
        w = words[0] if words[0].flags.owndata else words[0].copy()
        w.sort()  # in place: the level is a fresh array
        return [w]
    last = words[-1]  # by the most significant word; a narrow one by a radix sort
    if len(last) and int(last.max()) < 1 << 16:
        order = np.argsort(last.astype(np.uint16), kind="stable")
    else:
        order = np.argsort(last)
    return [w[order] for w in words]


def _key(words: tuple) -> tuple:
    return tuple(reversed(words))


@dataclass
class _Expansion:
    """The successors of a chunk and what went wrong on the way (rows of the chunk)."""

    cand: list | None = None  # W word arrays
    key: np.ndarray | None = None  # profile: instance of each successor
    srcs: np.ndarray | None = None  # graph: source state number of each successor
    insts: np.ndarray | None = None  # graph: instance of each successor
    transitions: int = 0
    fault_row: int | None = None
    asserts: dict = field(default_factory=dict)  # property -> (row, instance)
    dead_row: int | None = None
    dedup: tuple | None = None  # dedup() of the successors
    dedup_seconds: float = 0.0


class VectorSearch:
    """One run of the vector engine over a compiled system."""

    CHUNK = 1 << 15  # states per chunk: its successors and their temporaries are a few MB
    # Levels of at least PIPELINE_CHUNKS chunks of PIPELINE_CHUNK states go on two threads,
    # in bigger chunks: on smaller ones the overlap would not pay for the hand-offs of the
    # GIL between the threads' many short NumPy calls.
    PIPELINE_CHUNK = 1 << 16
    PIPELINE_CHUNKS = 8
    LOOKAHEAD = 2  # chunks prepared ahead of the one going into the visited set

    def __init__(self, vs: VectorSystem, deadlock: bool, limit: int | None, deadline,
                 fail_fast: bool, progress=None, profile: bool = False, chunk: int | None = None,
                 graph: bool = False):
        self.vs = vs
        self.W = vs.layout.words
        self.deadlock = deadlock
        self.limit = limit
        self.deadline = deadline
        self.fail_fast = fail_fast
        self.progress = progress
        # with a state graph (tens of bytes per state) the chunk's temporaries hardly
        # count: bigger chunks, fewer calls
        self.chunk = chunk or (self.PIPELINE_CHUNK if graph else self.CHUNK)
        self.pipeline_chunk = chunk or self.PIPELINE_CHUNK
        self.found = Found()
        self.searching = [True] * len(vs.reachables)
        self.live = [i for i in vs.instances if i.guard is not None]
        n = len(vs.instances)
        self.profile = Profile([0.0] * n, [0] * n, [0] * n) if profile else None
        self.graph = graph  # record every transition (for 'lost' properties)
        # the state graph numbers states and keeps every level in memory; otherwise the
        # levels go to the level store and only the level being expanded is an array
        self.levels: list[list[np.ndarray]] = []
        self._parts: list[list[np.ndarray]] = []  # new states of the level being built
        self._inst_dtype = np.uint16 if len(vs.instances) < 1 << 16 else np.int32
        self.visited = VisitedSet(vs.layout.word_bits, ids=graph)
        self.store = None if graph else LevelStore(vs.layout.word_bits)
        self.edges: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # src, dst, instance
        self.level_start = [0]
        self.transitions = 0
        self.depth = 0
        self.status = "complete"
        self.start = 0.0
        self.timed_out = False
        self.threads = _cpus()
        self._pool = None
        self._fanout = 4.0  # successors per state (for the successor buffers)

    # ---- recording ----
    def _row(self, words, i: int) -> tuple:
        return tuple(int(w[i]) for w in words)

    def _stop_if_fail_fast(self):
        if self.fail_fast:
            raise StopVector("stopped")

    def _keep_least(self, table: dict, key, words: tuple, level: int, extra=None) -> bool:
        """Record a finding unless one at a lower level, or at this level with a lesser
        state, is already there; True when this one was recorded."""
        old = table.get(key)
        cand = (words, level) if extra is None else ((words, level), extra)
        if old is not None:
            (ow, ol), oe = (old, None) if extra is None else old
            if (ol, _key(ow), oe) <= (level, _key(words), extra):
                return False
        table[key] = cand
        return True

    def _check_states(self, words: list[np.ndarray], level: int) -> None:
        """Invariants and reachable properties over new states (of one level)."""
        n = len(words[0])
        if n == 0:
            return
        F = Frame(words, n)
        found = self.found
        for i, v in enumerate(self.vs.invariants):
            # evaluated on every state, violated already or not (as the explicit engine
            # does): its run-time errors count
            ok = v.const if v.is_const else v.fn(F, True)
            if F.faults:
                self._state_fault(F, words, level)
            if ok is True or (ok is not False and ok.all()):
                continue
            if i in found.invariants and found.invariants[i][1] < level:
                continue
            row = least_row(words, None if ok is False else ~ok)
            if self._keep_least(found.invariants, i, self._row(words, row), level):
                self._stop_if_fail_fast()
        for i, v in enumerate(self.vs.reachables):
            if i in found.reached and found.reached[i][1] < level:
                continue
            hit = v.const if v.is_const else v.fn(F, True)
            if F.faults:
                self._state_fault(F, words, level)
            if hit is False or (hit is not True and not hit.any()):
                continue
            row = least_row(words, None if hit is True else hit)
            self._keep_least(found.reached, i, self._row(words, row), level)

    def _state_fault(self, F: Frame, words, level: int):
        bad = np.logical_or.reduce(F.faults)
        self.found.fault = (self._row(words, least_row(words, bad)), level, "state")
        raise StopVector("fault")

    # ---- expansion ----
    def _successors(self, chunk: list[np.ndarray], base: int = 0) -> _Expansion:
        """Every successor of a chunk, with what went wrong on the way. Touches no shared
        state but the profile (which runs on one thread)."""
        n = len(chunk[0])
        F = Frame(chunk, n)
        ex = _Expansion()
        enabled = np.zeros(n, dtype=bool) if self.deadlock else None
        # the successors go straight into one buffer per word, sized by the most
        # successors per state seen so far (no pieces to join: half the memory)
        out = [np.empty(int(n * self._fanout) + 64, dtype=np.uint64) for _ in range(self.W)]
        used = 0
        keys, srcs, insts = [], [], []
        fault_rows = []
        prof = self.profile
        for inst in self.live:
            t0 = time.perf_counter() if prof else 0.0
            g = inst.guard
            if g.is_const:
                idx = None
                sub = list(chunk)
                m = n
                if enabled is not None:
                    enabled[:] = True
            else:
                mask = g.fn(F, True)
                if F.faults:
                    fault_rows += [np.flatnonzero(f) for f in F.faults]
                    F.faults = []
                if enabled is not None:
                    enabled |= mask
                m = int(np.count_nonzero(mask))
                if m == 0:
                    if prof:
                        prof.seconds[inst.index] += time.perf_counter() - t0
                    continue
                sub = [w[mask] for w in chunk]  # a boolean take: no index array
                idx = mask  # the row numbers, when needed: np.flatnonzero(idx)
            T = Frame(sub, m)
            if inst.body is not None:
                inst.body(T, True)
            if idx is not None and (T.faults or T.asserts or self.graph):
                idx = np.flatnonzero(idx)
            for f in T.faults:
                rows = np.flatnonzero(f)
                fault_rows.append(rows if idx is None else idx[rows])
            for pid, bad in T.asserts:
                r = least_row(sub, bad)
                row = r if idx is None else int(idx[r])
                old = ex.asserts.get(pid)
                if old is None or _key(self._row(chunk, row)) < _key(self._row(chunk, old[0])):
                    ex.asserts[pid] = (row, inst.index)
            ex.transitions += m
            if used + m > len(out[0]):  # more than foreseen: a bigger buffer
                size = max(2 * len(out[0]), used + m)
                out = [np.concatenate([b[:used], np.empty(size - used, b.dtype)]) for b in out]
            for w in range(self.W):
                out[w][used:used + m] = T.w[w]
            used += m
            if prof:
                keys.append(np.full(m, inst.index, dtype=np.int64))
                prof.fired[inst.index] += m
                prof.seconds[inst.index] += time.perf_counter() - t0
            if self.graph:
                rows = np.arange(n, dtype=np.int32) if idx is None else idx.astype(np.int32)
                srcs.append(rows + np.int32(base))
                insts.append(np.full(m, inst.index, dtype=self._inst_dtype))
        if fault_rows:
            bad = np.zeros(n, dtype=bool)
            for r in fault_rows:
                bad[r] = True
            ex.fault_row = least_row(chunk, bad)
        if enabled is not None and not enabled.all():
            ex.dead_row = least_row(chunk, ~enabled)
        if n >= 1024:  # not from the first, tiny levels: their states may fan out widely
            self._fanout = max(self._fanout, used / n)
        if used:
            ex.cand = [b[:used] for b in out]  # the buffers' own memory: dedup may reuse it
            if prof:
                ex.key = np.concatenate(keys)
            if self.graph:
                ex.srcs, ex.insts = np.concatenate(srcs), np.concatenate(insts)
        return ex

    def _absorb(self, chunk: list[np.ndarray], level: int, ex: _Expansion) -> None:
        """Record what a chunk's expansion found (in chunk order, so the run is
        deterministic); stops the search on a run-time error or with --fail-fast."""
        if ex.fault_row is not None:
            self.found.fault = (self._row(chunk, ex.fault_row), level, "rule")
            raise StopVector("fault")
        for pid, (row, k) in sorted(ex.asserts.items()):
            if self._keep_least(self.found.actions, pid, self._row(chunk, row), level, k):
                self._stop_if_fail_fast()
        if ex.dead_row is not None:
            dead = {} if self.found.deadlock is None else {0: self.found.deadlock}
            if self._keep_least(dead, 0, self._row(chunk, ex.dead_row), level):
                self.found.deadlock = dead[0]
                self._stop_if_fail_fast()
        self.transitions += ex.transitions

    def _prepare(self, chunk: list[np.ndarray], base: int = 0) -> _Expansion:
        """The successors of a chunk, deduplicated. Touches no shared state (but the
        profile), so it may run on the helper thread while the previous chunk is being
        added to the visited set."""
        ex = self._successors(chunk, base)
        if ex.cand is not None:
            t0 = time.perf_counter()
            ex.dedup = dedup(ex.cand, ex.key, inverse=self.graph, consume=True)
            ex.cand = None  # the successors before deduplication
            ex.dedup_seconds = time.perf_counter() - t0
        return ex

    def _expand(self, chunk: list[np.ndarray], level: int, base: int = 0,
                ex: _Expansion | None = None):
        """One chunk: its new states (checked against the properties). Runs on the main
        thread, chunk after chunk, so every result is in chunk order."""
        ex = ex if ex is not None else self._prepare(chunk, base)
        self._absorb(chunk, level, ex)
        if ex.dedup is None:
            self._parts.append([np.zeros(0, dtype=np.uint64) for _ in range(self.W)])
            return self._parts[-1]
        prof = self.profile
        t0 = time.perf_counter()
        cand, h, least, inv = ex.dedup
        ex.dedup = None
        if self.graph:
            new, ids = self.visited.add(cand, h)
            self.edges.append((ex.srcs, ids[inv], ex.insts))
        else:
            new = self.visited.add(cand, h)
        fresh = [w[new] for w in cand]
        if prof:  # a new state counts for the first instance that produced it
            counts = np.bincount(least[new], minlength=len(prof.new))
            for k in np.flatnonzero(counts):
                prof.new[k] += int(counts[k])
            prof.dedup_seconds += ex.dedup_seconds + time.perf_counter() - t0
            t0 = time.perf_counter()
        self._parts.append(fresh)  # before the checks: a run-time error there stops here
        self._check_states(fresh, level + 1)
        if prof:
            prof.check_seconds += time.perf_counter() - t0
        return fresh

    def _hook(self, queue: int) -> None:
        now = time.perf_counter()
        if self.progress:
            self.progress(self.visited.count, queue, self.transitions, self.depth,
                          now - self.start)
        if self.deadline and now > self.deadline:
            self.timed_out = True
            raise StopVector("timeout")
        if self.limit and self.visited.count >= self.limit:
            raise StopVector("state-limit")

    def _level(self, cur: list[np.ndarray], level: int) -> None:
        """Expand one level chunk by chunk. With a helper thread, the successors of the
        next chunk are computed and deduplicated while this one goes into the visited set
        (NumPy releases the GIL in its loops, sorts and gathers)."""
        n = len(cur[0])
        base = self.level_start[level]
        size = max(self.chunk, self.pipeline_chunk)
        pipelined = self._pool is not None and n >= self.PIPELINE_CHUNKS * size
        if not pipelined:
            size = self.chunk
        starts = list(range(0, n, size))

        def piece(start):
            return [w[start:start + size] for w in cur]

        if not pipelined:
            for start in starts:
                self._expand(piece(start), level, base + start)
                self._hook(n - start)
            return
        # the helper prepares chunks in order, up to LOOKAHEAD ahead of the one being
        # added; while waiting, this thread takes a chunk the helper has not begun
        futures: dict[int, concurrent.futures.Future] = {}
        ready: dict[int, _Expansion] = {}
        submitted = 0
        for i, start in enumerate(starts):
            while submitted < len(starts) and submitted <= i + self.LOOKAHEAD:
                at = starts[submitted]
                futures[submitted] = self._pool.submit(self._prepare, piece(at), base + at)
                submitted += 1
            while i not in ready:
                f = futures[i]
                if f.done():
                    ready[i] = f.result()
                    break
                late = next((j for j in sorted(futures, reverse=True)
                             if j > i and futures[j].cancel()), None)
                if late is None:
                    ready[i] = f.result()
                else:
                    del futures[late]
                    ready[late] = self._prepare(piece(starts[late]), base + starts[late])
            futures.pop(i, None)
            self._expand(piece(start), level, base + start, ready.pop(i))
            self._hook(n - start)

    def run(self, init_words: tuple) -> None:
        self.start = time.perf_counter()
        # a helper thread when there is a second CPU; not when profiling (clean timings)
        if self.threads > 1 and not self.profile:
            self._pool = concurrent.futures.ThreadPoolExecutor(1, "irqcheck-expand")
        init = [np.array([x], dtype=np.uint64) for x in init_words]
        try:
            self.visited.add(init, _hash(init))  # number 0, level 0
            self._keep(init)
            self._check_states(init, 0)
            self._hook(1)
            level, cur = 0, init
            while True:
                n = len(cur[0])
                self.depth = level
                self._parts = parts = []
                self._level(cur, level)
                nxt = [np.concatenate([p[w] for p in parts]) for w in range(self.W)]
                self._parts = parts = []
                if len(nxt[0]) == 0:
                    break
                if not self.graph:  # numbers follow discovery: the state graph keeps that order
                    nxt = sort_level(nxt)
                self._keep(nxt)
                self.level_start.append(self.level_start[-1] + n)
                level, cur = level + 1, nxt
        except StopVector as stop:
            self.status = str(stop)
        except KeyboardInterrupt:
            self.status = "interrupted"
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None
        if self.graph and self._parts:  # numbered states of the level left unfinished
            self.levels.append([np.concatenate([p[w] for p in self._parts])
                                for w in range(self.W)])

    def _keep(self, words: list[np.ndarray]) -> None:
        if self.graph:
            self.levels.append(words)
        else:
            self.store.append(words)

    def level(self, level: int) -> list[np.ndarray]:
        """The states of a BFS level, in the order they were expanded."""
        if self.graph:
            return self.levels[level]
        if getattr(self, "_cached", (None,))[0] != level:
            self._cached = (level, self.store.get(level))
        return self._cached[1]

    # ---- counterexamples ----
    def predecessor(self, target: tuple, level: int) -> tuple[tuple, int]:
        """A state of `level` and the instance that leads from it to target: the first such
        state in level order, and its first such instance."""
        cur = self.level(level)
        n = len(cur[0])
        for start in range(0, n, self.chunk):
            chunk = [w[start:start + self.chunk] for w in cur]
            F = Frame(chunk, len(chunk[0]))
            best = None
            for inst in self.live:
                g = inst.guard
                if g.is_const:
                    idx, sub = None, list(chunk)
                else:
                    mask = g.fn(F, True)
                    idx = np.flatnonzero(mask)
                    if len(idx) == 0:
                        continue
                    sub = [w[idx] for w in chunk]
                T = Frame(sub, len(sub[0]))
                if inst.body is not None:
                    inst.body(T, True)
                hit = T.w[0] == U64(target[0])
                for w in range(1, self.W):
                    hit &= T.w[w] == U64(target[w])
                if hit.any():
                    r = int(np.argmax(hit))
                    src = r if idx is None else int(idx[r])
                    if best is None or src < best[0]:
                        best = (src, inst.index)
            if best is not None:
                return self._row(chunk, best[0]), best[1]
        raise RuntimeError("vector engine: no predecessor found for a state of level "
                           f"{level + 1}")

    def path(self, words: tuple, level: int) -> list[tuple[int, tuple]]:
        """[(instance id or -1, words)] from the initial state to the given state."""
        out = [(-1, words)]
        for lv in range(level - 1, -1, -1):
            words, k = self.predecessor(words, lv)
            out[-1] = (k, out[-1][1])
            out.append((-1, words))
        out.reverse()
        return out

    @property
    def states(self) -> int:
        return self.visited.count

    @property
    def level_bytes(self) -> int:
        return sum(w.nbytes for lv in self.levels for w in lv) if self.graph else 0


def compile_or_reason(system: ir.System) -> tuple[VectorSystem | None, str | None]:
    """(compiled system, None), or (None, the reason the vector engine cannot check it)."""
    try:
        return VectorSystem.compile(system), None
    except Unsupported as err:
        return None, str(err)


def check(system: ir.System, options: Options, vs: VectorSystem | None = None) -> Result:
    """Check a system with the vector engine (compile_or_reason must have accepted it)."""
    if options.deadlock is not None and options.deadlock != system.deadlock:
        system = replace(system, deadlock=options.deadlock)
    t0 = time.perf_counter()
    vs = vs or VectorSystem.compile(system)
    graph = bool(system.recoverables)
    # The scalar evaluator (traces, fault messages) can be big for a big spec. Without a
    # state graph it is compiled after the search, once the visited set is freed: the
    # two are never resident together. The state graph stays for the 'lost' analysis;
    # then compiling first lets the search reuse the memory the compiler let go.
    cs = CompiledSystem(system) if graph else None
    compile_s = time.perf_counter() - t0
    init_packed = Layout.of(system).pack(system, tuple(v.init for v in system.variables))
    deadline = time.perf_counter() + options.timeout if options.timeout else None
    search = VectorSearch(vs, system.deadlock, options.max_states, deadline, options.fail_fast,
                          options.progress, options.profile, graph=graph)
    gc.collect()  # the garbage of loading and compiling goes before the search comes
    rss0 = _current_rss_bytes()
    search.run(vs.layout.to_words(init_packed))
    seconds = time.perf_counter() - search.start
    rss1 = _current_rss_bytes()
    if cs is None:
        search.visited.free()  # counterexamples come from the level store
        t0 = time.perf_counter()
        cs = CompiledSystem(system)
        compile_s += time.perf_counter() - t0
    try:
        return _Report(system, cs, search, options, compile_s, init_packed).result(
            seconds, rss1 - rss0)
    finally:
        if search.store is not None:
            search.store.close()


_STATUS = {"complete": Status.COMPLETE, "state-limit": Status.STATE_LIMIT,
           "timeout": Status.TIMEOUT, "interrupted": Status.INTERRUPTED,
           "stopped": Status.STOPPED, "fault": Status.MODEL_ERROR}


class _Report:
    """Turns what the vector search found into the explicit engine's Result: the paths
    to the violating states are rebuilt and laid out as a small predecessor forest that
    the explicit engine's report code reads."""

    def __init__(self, system, cs: CompiledSystem, search: VectorSearch, options, compile_s,
                 init_packed: int):
        self.system, self.cs, self.search = system, cs, search
        self.rep = _Search(cs, options, compile_s)
        self.rep.states.append(init_packed)
        self.rep.parent.append(-1)
        self.rep.via.append(-1)
        self.layout = search.vs.layout
        self.init_packed = init_packed
        self.rep._recoverable_results = self._recoverables

    # ---- 'lost' properties over the recorded state graph ----
    def _recoverables(self, complete: bool) -> list[PropertyResult]:
        from checker.engines import graph
        system, search = self.system, self.search
        if not system.recoverables:
            return []
        if not complete:
            return [PropertyResult(p.name, "lost", Verdict.UNKNOWN, pclass=p.pclass)
                    for p in system.recoverables]
        n = search.states
        src, dst, allw = self._graph()
        level_of = self._levels_of()
        reverse = graph.Reverse(src, dst, n)
        comp = search.vs.compiler
        out = []
        for prop in system.recoverables:
            best = None
            for values in ir.product([ir.domain_values(t) for _, t in prop.params]):
                env = {name: _cv(t, bool(v) if isinstance(t, ir.BoolT) else v)
                       for (name, t), v in zip(prop.params, values)}
                pre, post = (self._mask(comp.condition(e, env), allw, n)
                             for e in (prop.pre, prop.post))
                bad = pre & ~graph.can_reach(post, src, dst, reverse)
                if not bad.any():
                    continue
                level = int(level_of[np.argmax(bad)])  # numbers grow with the level
                bad &= level_of == level
                idx = least_row(allw, bad)
                rank = (level, _key(tuple(int(w[idx]) for w in allw)))
                if best is None or rank < best[2]:
                    best = (idx, values, rank)
            if best is None:
                out.append(PropertyResult(prop.name, "lost", Verdict.HOLDS, pclass=prop.pclass))
                continue
            idx, values, _ = best
            trace = self.rep.trace_to(self._add_path(self._graph_path(idx, src, dst, allw)))
            params = ", ".join(f"{name}={ir.format_value(t, v)}"
                               for (name, t), v in zip(prop.params, values))
            head = f"{prop.name}({params})" if params else prop.name
            reason = (f"{head}: from the last state no continuation reaches the goal"
                      + self._stuck_reason(idx, src, dst, allw))
            out.append(PropertyResult(prop.name, "lost", Verdict.VIOLATED, trace, reason,
                                      pclass=prop.pclass,
                                      params=tuple((n, v) for (n, _), v in
                                                   zip(prop.params, values))))
        return out

    @staticmethod
    def _mask(v, allw, n: int) -> np.ndarray:
        if v.is_const:
            return np.full(n, bool(v.const))
        return np.asarray(v.fn(Frame(allw, n), True), dtype=bool)

    def _levels_of(self) -> np.ndarray:
        """The BFS level of every state number."""
        if not hasattr(self, "_level_of"):
            sizes = [len(lv[0]) for lv in self.search.levels]
            self._level_of = np.repeat(np.arange(len(sizes), dtype=np.int32), sizes)
        return self._level_of

    def _parents(self, src, dst, allw):
        """Every state's canonical parent and the instance from it: among its predecessors
        one level up, the least state, and its least instance (as the level search picks).
        Computed on the first trace that needs it."""
        if not hasattr(self, "_parent"):
            search = self.search
            level_of = self._levels_of()
            by_value = np.lexsort(allw)  # state numbers in order of value
            rank = np.empty(len(level_of), dtype=np.int64)
            rank[by_value] = np.arange(len(level_of))
            sel = level_of[src] + 1 == level_of[dst]
            ni = len(search.vs.instances)
            key = rank[src[sel]] * ni + search.edges[0][2][sel]
            best = np.full(search.states, np.iinfo(np.int64).max, dtype=np.int64)
            np.minimum.at(best, dst[sel], key)  # per state: least parent, then instance
            del key, sel
            has = best != np.iinfo(np.int64).max
            self._parent = np.full(search.states, -1, dtype=np.int64)
            self._via = np.full(search.states, -1, dtype=np.int64)
            self._parent[has] = by_value[best[has] // ni]
            self._via[has] = best[has] % ni
        return self._parent, self._via

    def _graph_path(self, idx: int, src, dst, allw) -> list[tuple[int, tuple]]:
        """The path from state 0 to state idx through canonical parents."""
        parent, via = self._parents(src, dst, allw)
        path = []  # (instance into the state, state), from idx back to state 0
        while idx >= 0:
            path.append((int(via[idx]), tuple(int(w[idx]) for w in allw)))
            idx = int(parent[idx])
        path.reverse()
        return path

    def _graph(self):
        """(src, dst, all states' words) of the recorded state graph."""
        search = self.search
        if not hasattr(self, "_edges"):
            parts = search.edges
            src = np.concatenate([e[0] for e in parts]) if parts else np.zeros(0, np.int32)
            dst = np.concatenate([e[1] for e in parts]) if parts else np.zeros(0, np.int32)
            inst = np.concatenate([e[2] for e in parts]) if parts else np.zeros(0, np.int32)
            search.edges = [(src, dst, inst)]  # one piece: the chunks' arrays are freed
            del parts
            allw = [np.concatenate([lv[w] for lv in search.levels]) for w in range(search.W)]
            self._edges = (src, dst, allw)
        return self._edges

    def _number(self, words: tuple) -> int:
        """A state's number in the recorded graph."""
        rows = [np.array([w], dtype=np.uint64) for w in words]
        new, ids = self.search.visited.add(rows, _hash(rows))
        if new.any():
            raise RuntimeError("vector engine: a recorded state is missing from the graph")
        return int(ids[0])

    def _stuck_reason(self, idx: int, src, dst, allw) -> str:
        from checker.engines import graph
        from checker.report.values import leaves
        closure = np.asarray(graph.forward_closure(idx, src, dst), dtype=np.intp)
        names = leaves(self.system, self.cs.unpack(self.layout.to_packed(
            [w[idx] for w in allw])))
        init = dict(leaves(self.system, self.cs.unpack(self.init_packed)))
        constant = {}
        for (name, value), lf in zip(names, self.layout.leaves):
            if lf.width == 0:
                constant[name] = value
                continue
            vals = (allw[lf.word][closure] >> U64(lf.off)) & U64(lf.mask)
            if (vals == vals[0]).all():
                constant[name] = value
        return stuck_reason(constant, init, len(closure))

    def _index(self, words: tuple, level: int) -> int:
        """The index in the forest of a state, after adding the path to it."""
        return self._add_path(self._path(words, level))

    def _path(self, words: tuple, level: int):
        if self.search.graph:
            src, dst, allw = self._graph()
            return self._graph_path(self._number(words), src, dst, allw)
        return self.search.path(words, level)

    def _add_path(self, path) -> int:
        rep = self.rep
        idx = 0
        for k, w in path[1:]:
            rep.states.append(self.layout.to_packed(w))
            rep.parent.append(idx)
            rep.via.append(k)
            idx = len(rep.states) - 1
        return idx

    def result(self, seconds: float, rss_delta: int) -> Result:
        s, f, rep = self.search, self.search.found, self.rep
        fault = None
        if f.fault is not None:  # first, so that a fault in the initial state has index 0
            fault = self._fault(*f.fault)
        rep.found.invariants = {i: self._index(*wl) for i, wl in f.invariants.items()}
        rep.found.actions = {p: (self._index(*wl), k) for p, (wl, k) in f.actions.items()}
        rep.found.reached = {i: self._index(*wl) for i, wl in f.reached.items()}
        rep.found.deadlock = self._index(*f.deadlock) if f.deadlock is not None else None
        status = _STATUS[s.status]
        n = s.states
        stats = Stats(states=n, transitions=s.transitions, depth=s.depth, seconds=seconds,
                      peak_rss_mb=_rss_mb(), compile_seconds=rep.compile_s,
                      bytes_per_state=rss_delta / n if n >= 50000 and rss_delta > 0 else None,
                      load_factor=s.visited.load,
                      visited_mb=(s.visited.nbytes + s.level_bytes) / 2**20)
        props = rep._property_results(status == Status.COMPLETE)
        message = None
        if fault is not None:
            props.append(rep._fault_result(fault))
            message = props[-1].reason
        stats.peak_rss_mb = _rss_mb()  # the analyses after the search count too
        if rep.options.progress:
            rep.options.progress(n, 0, s.transitions, s.depth, seconds)
        result = Result(self.system.name, "vector", self.system, props, stats, status, message,
                        {n: ir.json_value(t, v) for n, t, v in self.system.constants})
        if s.profile is not None:
            result.profile = self._profile(seconds)
        return result

    def _fault(self, words: tuple, level: int, where: str) -> _RuntimeFault:
        """The scalar engine's account of the run-time error the vector search met."""
        cs = self.cs
        if where == "state" and level == 0:
            fault = _first_fault(lambda: [fn(self.rep.states[0])
                                          for fn in cs.inv_fns + cs.reach_fns])
            if fault is None:
                raise RuntimeError("vector engine: a fault the scalar engine does not see")
            fault.head = 0
            return fault
        if where == "state":  # evaluating a property on a new state: start from a parent
            words = self._path(words, level)[-2][1]
            level -= 1
        head = self._index(words, level)
        src = self.rep.states[head]
        for k in range(len(cs.instances)):
            def step(k=k):
                succ, _ = cs.fire(k, src)
                if succ is not None:
                    for fn in cs.inv_fns + cs.reach_fns:
                        fn(succ)
            fault = _first_fault(step)
            if fault is not None:
                fault.head = head
                return fault
        raise RuntimeError("vector engine: a fault the scalar engine does not see")

    def _profile(self, seconds: float) -> list[dict]:
        p = self.search.profile
        out = []
        for inst in self.search.vs.instances:
            k = inst.index
            step = make_step(inst.rule, inst.params, (), inst.rule_index)
            out.append({"rule": step.label, "kvm": inst.rule.kvm, "fired": p.fired[k],
                        "new_states": p.new[k], "seconds": round(p.seconds[k], 6),
                        "enabled": inst.guard is not None})
        out.append({"rule": "(deduplication and visited set)", "kvm": None, "fired": None,
                    "new_states": None, "seconds": round(p.dedup_seconds, 6),
                    "enabled": True})
        out.append({"rule": "(invariants and reachability)", "kvm": None, "fired": None,
                    "new_states": None, "seconds": round(p.check_seconds, 6),
                    "enabled": True})
        return out


def _first_fault(fn) -> _RuntimeFault | None:
    try:
        fn()
    except _RuntimeFault as fault:
        return fault
    return None
