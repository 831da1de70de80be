"""The vector engine against the explicit (scalar) engine.

On every spec of the repository (scenario mutants and fixed bugs included) and on
Hypothesis-generated specs, both engines report the same state, transition and depth
counts, the same verdict for every property and counterexamples of the same length.
Unit tests pin the visited set, the deduplication and the state layout.
"""

import re

import numpy as np
import pytest
from helpers import ROOT, SPECS, system_from_text, system_of
from hypothesis import HealthCheck, given, settings
from specgen import spec

from checker.engines import vector
from checker.engines.explicit import Options
from checker.engines.explicit import check as explicit_check
from checker.engines.vcompile import VLayout
from checker.lang import load_system


def summary(result):
    """What both engines must agree on."""
    props = {p.name: (str(p.verdict), len(p.trace) if p.trace is not None else None)
             for p in result.properties}
    return {"states": result.stats.states, "transitions": result.stats.transitions,
            "depth": result.stats.depth, "status": result.status.value, "props": props}


def assert_agree(system, **options):
    s = explicit_check(system, Options(**options))
    v = vector.check(system, Options(**options))
    assert v.engine == "vector"
    a, b = summary(v), summary(s)
    if b["status"] == "model-error":
        # both stop at the first run-time error, at the same depth; the counts are partial
        assert a["status"] == "model-error"
        assert a["props"]["runtime_error"] == b["props"]["runtime_error"]
        return v, s
    assert a == b
    return v, s


def _cases():
    out = []
    for p in sorted((ROOT / "specs").rglob("*.irq")) + sorted(SPECS.rglob("*.irq")):
        rel = p.relative_to(ROOT).as_posix()
        if "/large/" in rel or rel == "specs/kvm_x86.irq":
            continue  # the main spec has its own test below
        out.append(pytest.param(p, (), id=rel))
        text = p.read_text()
        m = re.search(r"^const MUTANT: 0\.\.(\d+)", text, re.MULTILINE)
        for k in range(1, int(m.group(1)) + 1) if m else ():
            out.append(pytest.param(p, (f"MUTANT={k}",), id=f"{rel}:MUTANT={k}"))
        if re.search(r"^const FIXED: bool", text, re.MULTILINE):
            out.append(pytest.param(p, ("FIXED=true",), id=f"{rel}:FIXED"))
    return out


@pytest.mark.parametrize("path,consts", _cases())
def test_engines_agree_on_repository_specs(path, consts):
    assert_agree(system_of(path, consts), max_states=500_000)


def test_engines_agree_on_the_main_spec():
    v, s = assert_agree(system_of(ROOT / "specs/kvm_x86.irq"))
    assert v.stats.states == 1_108_709


def test_bm1_3_4_needs_two_words_and_still_agrees_on_a_prefix():
    system = system_of(ROOT / "specs/bench/bm1.irq", ("C=3", "P=4"))
    assert VLayout(system).words == 2
    small = system_of(ROOT / "specs/bench/bm1.irq", ("C=1", "P=4"))
    assert_agree(small)


FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@FUZZ
@given(text=spec())
def test_engines_agree_on_generated_specs(tmp_path_factory, text):
    tmp = tmp_path_factory.mktemp("vec")
    p = tmp / "gen.irq"
    p.write_text(text)
    system, diags = load_system(p, [])
    assert not diags
    assert_agree(system)


# ---------------------------------------------------------------- units
def test_visited_set_grows_and_keeps_numbers():
    rng = np.random.default_rng(7)
    keys = np.unique(rng.integers(0, 1 << 62, 300_000, dtype=np.uint64))
    rng.shuffle(keys)
    vs = vector.VisitedSet([62], log2=10, ids=True)
    seen_ids = {}
    for i in range(0, len(keys), 50_000):
        part = keys[i:i + 50_000]
        rows, h, _, _ = vector.dedup([part])
        new, ids = vs.add(rows, h)
        assert new.all()
        for k, n in zip(rows[0].tolist(), ids.tolist()):
            seen_ids[k] = n
    assert vs.count == len(keys) and vs.load <= vs.max_load
    assert sorted(seen_ids.values()) == list(range(len(keys)))
    again = keys[:1000]
    rows, h, _, _ = vector.dedup([again])
    new, ids = vs.add(rows, h)
    assert not new.any()
    assert [seen_ids[k] for k in rows[0].tolist()] == ids.tolist()


@pytest.mark.parametrize("words", [2, 3])
def test_the_mix_is_a_bijection_of_the_first_word(words):
    """Deduplication compares only the mix and the other words: for fixed other words,
    distinct first words must give distinct mixes."""
    rng = np.random.default_rng(words)
    first = np.unique(rng.integers(0, 1 << 64, 200_000, dtype=np.uint64))
    for rest in ([0] * (words - 1), [7, 1 << 40][:words - 1]):
        others = [np.full(len(first), v, dtype=np.uint64) for v in rest]
        h = vector._hash([first] + others)
        assert len(np.unique(h)) == len(first)
    # and states that differ in another word only are told apart by dedup
    a = np.array([5, 5, 5], dtype=np.uint64)
    b = np.array([1, 2, 1], dtype=np.uint64)
    rows, _, _, _ = vector.dedup([a, b] + [np.zeros(3, np.uint64)] * (words - 2))
    assert sorted(rows[1].tolist()) == [1, 2]


def test_dedup_survives_hash_collisions(monkeypatch):
    # every row's mix has the same top bits (the mix is the first word itself, still a
    # bijection of it): deduplication must still tell the states apart
    monkeypatch.setattr(vector, "_hash", lambda words: words[0].copy())
    a = np.array([1, 2, 1, 3, 2], dtype=np.uint64)
    b = np.array([9, 9, 9, 9, 8], dtype=np.uint64)
    rows, _, _, inv = vector.dedup([a, b], inverse=True)
    got = sorted(zip(rows[0].tolist(), rows[1].tolist()))
    assert got == [(1, 9), (2, 8), (2, 9), (3, 9)]
    pairs = list(zip(rows[0][inv].tolist(), rows[1][inv].tolist()))
    assert pairs == list(zip(a.tolist(), b.tolist()))


def test_layout_round_trip(tmp_path):
    system = system_from_text(tmp_path, """
var a: [0..5] of set of 0..40 = {}
var b: 0..1000 = 0
var r: record { f: 0..2, g: bool } = { f: 0, g: false }
rule step when b < 3 { b := b + 1  a[b] += {b * 10} }
""")
    layout = VLayout(system)
    assert layout.words == 6  # 41-bit sets: one per word, the rest packed after the last
    from checker.engines.compiled import CompiledSystem
    cs = CompiledSystem(system)
    packed = cs.pack(((frozenset({0, 40}),) * 6, 999, (2, True)))
    assert layout.to_packed(layout.to_words(packed)) == packed
    assert_agree(system)


def test_a_set_too_wide_for_a_word_falls_back(tmp_path):
    system = system_from_text(tmp_path, """
var s: set of 0..99 = {}
rule add(x: 0..1) when not (x in s) { s += {x} }
""")
    vs, why = vector.compile_or_reason(system)
    assert vs is None and "100 bits" in why


def test_profile_counts_every_new_state_once():
    system = system_of(ROOT / "specs/bench/bm1.irq", ("C=2", "P=2"))
    r = vector.check(system, Options(profile=True))
    rows = [x for x in r.profile if x["fired"] is not None]
    assert sum(x["new_states"] for x in rows) == r.stats.states - 1
    assert sum(x["fired"] for x in rows) == r.stats.transitions


def test_counterexample_replays_on_the_scalar_engine():
    system = system_of(ROOT / "specs/examples/lost_edge.irq")
    r = vector.check(system, Options())
    from checker.engines.compiled import CompiledSystem
    cs = CompiledSystem(system)
    bad = [p for p in r.properties if str(p.verdict) == "violated"]
    assert bad
    for p in bad:
        steps = p.trace.steps
        state = cs.pack(steps[0].state)
        for step in steps[1:]:
            k = next(i for i, inst in enumerate(cs.instances)
                     if inst.rule_index == step.rule_index and inst.params == step.param_values)
            state, _ = cs.fire(k, state)
            assert state is not None and cs.unpack(state) == step.state



@pytest.mark.parametrize("words,block", [(1, 1 << 18), (1, 64), (2, 1 << 10), (3, 64)])
def test_visited_set_growth_keeps_every_state(monkeypatch, words, block):
    """Doubling goes block by block; runs that cross a block or wrap around the end of
    the table must land exactly once."""
    monkeypatch.setattr(vector.VisitedSet, "GROW_BLOCK", block)
    rng = np.random.default_rng(words * 100 + block)
    n = 60_000
    keys = [np.unique(rng.integers(0, 1 << 40, 2 * n, dtype=np.uint64))[:n]
            for _ in range(words)]
    vs = vector.VisitedSet([40] * words, log2=4, ids=words > 1)
    for i in range(0, n, 4_000):
        rows, h, _, _ = vector.dedup([k[i:i + 4_000] for k in keys])
        got = vs.add(rows, h)
        new = got[0] if words > 1 else got
        assert new.all()
    assert vs.count == n
    rows, h, _, _ = vector.dedup(keys)
    got = vs.add(rows, h)
    new = got[0] if words > 1 else got
    assert not new.any() and vs.count == n
    if words > 1:
        assert sorted(got[1].tolist()) == list(range(n))


def test_multi_word_counterexample(tmp_path):
    """States of two words: the trace is rebuilt from the levels kept in the level store."""
    system = system_from_text(tmp_path, TWO_WORDS)
    assert VLayout(system).words == 2
    v, s = assert_agree(system)
    (bad,) = [p for p in v.properties if str(p.verdict) == "violated"]
    assert len(bad.trace) == 4
    assert [st.label for st in bad.trace.steps[1:]] == ["step(x=0)"] * 4  # the least path


def test_level_store_keeps_narrow_words():
    rng = np.random.default_rng(3)
    store = vector.LevelStore([3, 40, 64])
    levels = [[rng.integers(0, 1 << b, n, dtype=np.uint64) if b < 64 else
               rng.integers(0, 1 << 63, n, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
               for b in (3, 40, 64)] for n in (1, 5, 1000, 0, 7)]
    for words in levels:
        store.append(words)
    assert store.size == sum(len(w[0]) * (1 + 8 + 8) for w in levels)  # uint8, uint64, uint64
    for i in (3, 0, 4, 2, 1):
        got = store.get(i)
        assert all(g.dtype == np.uint64 for g in got)
        assert all(np.array_equal(g, w) for g, w in zip(got, levels[i]))
    store.close()


class _FullAfter:
    """A temporary file that fails with ENOSPC after n writes."""

    def __init__(self, f, n):
        self.f, self.n = f, n

    def write(self, data):
        if self.n == 0:
            raise OSError(28, "No space left on device")
        self.n -= 1
        return self.f.write(data)

    def __getattr__(self, name):
        return getattr(self.f, name)


@pytest.mark.parametrize("failure", ["no temporary file", "disk full"])
def test_levels_stay_in_memory_when_no_file_can_be_written(tmp_path, monkeypatch, failure):
    """Without a temporary file, or when the file system fills up, the levels are kept in
    memory: the same counts, the same counterexample."""
    import tempfile
    system = system_from_text(tmp_path, TWO_WORDS)
    want = vector.check(system, Options())
    stores = []

    class Recorded(vector.LevelStore):
        def __init__(self, bits):
            super().__init__(bits)
            stores.append(self)

    def no_file(**kw):
        raise OSError(13, "Permission denied")

    real = tempfile.TemporaryFile

    def fills_up(**kw):
        return _FullAfter(real(**kw), 5)  # 2 words a level: the 3rd level fails

    monkeypatch.setattr(vector, "LevelStore", Recorded)
    monkeypatch.setattr(vector.tempfile, "TemporaryFile",
                        no_file if failure == "no temporary file" else fills_up)
    got = vector.check(system, Options())
    (store,) = stores
    assert store.file is None and len(store.memory) == got.stats.depth + 1
    assert len(store.where) == (0 if failure == "no temporary file" else 2)  # levels 0, 1
    assert summary(got) == summary(want)
    assert [[st.label for st in p.trace.steps] for p in got.properties if p.trace] == \
        [[st.label for st in p.trace.steps] for p in want.properties if p.trace]


TWO_WORDS = """
var big: set of 0..40 = {}
var big2: set of 0..40 = {}
var n: 0..5 = 0
option deadlock = false
rule step(x: 0..2) when n < 5 {
  n := n + 1
  big += {x}
  big2 += {x + n * 3}
}
invariant small: n < 4
"""


WIDE = """
var s: set of 0..99 = {}
option deadlock = false
rule add(x: 0..1) when not (x in s) { s += {x} }
"""


def test_cli_falls_back_and_says_why(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from checker import cli
    spec = tmp_path / "wide.irq"
    spec.write_text(WIDE)
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(cli.main, ["check", str(spec), "--no-timing"])
    assert r.exit_code == 0, r.output
    assert "engine explicit" in r.output
    assert "note: vector engine not used: variable 's' has a set of 0..99 of 100 bits" in r.output
    r = CliRunner().invoke(cli.main, ["check", str(spec), "--engine", "vector"])
    assert r.exit_code == 2
    assert "the vector engine cannot check this spec" in r.output


def test_cli_profile_table(monkeypatch):
    from click.testing import CliRunner

    from checker import cli
    monkeypatch.chdir(ROOT)
    r = CliRunner().invoke(cli.main, ["check", "specs/bench/bm1.irq", "--const", "C=1",
                                      "--const", "P=2", "--profile", "--no-timing"])
    assert r.exit_code == 0, r.output
    assert "profile: where the search went" in r.output
    assert "enter(c=0)" in r.output and "inject_pending_event" in r.output


def _full(result):
    """Everything a user sees of a result: counts, verdicts and every counterexample."""
    props = [(p.name, str(p.verdict), None if p.trace is None else
              [(s.rule, s.params, s.state) for s in p.trace.steps])
             for p in result.properties]
    st = result.stats
    return st.states, st.transitions, st.depth, result.status.value, props


@pytest.mark.parametrize("path,consts,chunk", [
    ("specs/bench/bm1.irq", ("C=2", "P=3", "BUG=1"), 1024),
    ("specs/bench/bm1.irq", ("C=2", "P=2"), 64),
    ("specs/bugs/b02_level_race.irq", (), 4),  # a 'lost' property: the state graph
    ("specs/bugs/b15_split_irqchip_window.irq", (), 4),
])
def test_two_threads_give_the_same_result(monkeypatch, path, consts, chunk):
    """Levels of many chunks are expanded on a helper thread while the main thread fills
    the visited set: every count, verdict and counterexample stays the same."""
    system = system_of(ROOT / path, consts)
    one = vector.check(system, Options())
    monkeypatch.setattr(vector.VectorSearch, "CHUNK", chunk)
    monkeypatch.setattr(vector.VectorSearch, "PIPELINE_CHUNK", chunk)
    monkeypatch.setattr(vector.VectorSearch, "PIPELINE_CHUNKS", 2)
    monkeypatch.setattr(vector, "_cpus", lambda: 2)
    threads = set()
    prepare = vector.VectorSearch._prepare

    def spy(self, chunk, base=0):
        import threading
        threads.add(threading.current_thread().name.split("_")[0])
        return prepare(self, chunk, base)

    monkeypatch.setattr(vector.VectorSearch, "_prepare", spy)
    two = vector.check(system, Options())
    assert "irqcheck-expand" in threads  # the helper thread did take part
    assert _full(two) == _full(one)
