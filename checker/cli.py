"""The irqcheck command line. The only place that prints or exits."""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

import click

from checker import __version__
from checker.diagnostics import CODES, SourceCache, lookup, render

EXIT_OK = 0  # every property holds
EXIT_VIOLATED = 1  # some property is violated (or the model hit a run-time error)
EXIT_BAD_INPUT = 2  # the spec, an import or the command line is wrong
EXIT_LIMIT = 3  # --max-states, --timeout or Ctrl-C stopped the search before it finished
EXIT_NO_KVM = 4  # conform / replay --on-kvm: /dev/kvm is missing or not usable
EXIT_INTERNAL = 70  # a bug in irqcheck itself


def write_atomically(path: Path, text: str) -> None:
    """Replace path with text in one step: a reader sees the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class _Progress:
    """A one-line status on stderr for runs longer than a couple of seconds (TTY only)."""

    DELAY = 2.0

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.status = None
        self.start = time.perf_counter()

    def __call__(self, states, queue, transitions, depth, elapsed):
        if not self.enabled or elapsed < self.DELAY:
            return
        rate = states / elapsed if elapsed > 0 else 0
        msg = (f"states {states:,} · queue {queue:,} · transitions {transitions:,} · "
               f"depth {depth} · {rate:,.0f} states/s")
        if self.status is None:
            from rich.console import Console
            self.status = Console(stderr=True).status(msg)
            self.status.start()
        else:
            self.status.update(msg)

    def message(self, msg: str, elapsed: float) -> None:
        if not self.enabled or elapsed < self.DELAY:
            return
        if self.status is None:
            from rich.console import Console
            self.status = Console(stderr=True).status(msg)
            self.status.start()
        else:
            self.status.update(msg)

    def close(self):
        if self.status is not None:
            self.status.stop()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="irqcheck")
def main() -> None:
    """irqcheck: a model checker for interrupt delivery in KVM x86.

    Exit codes: 0 all properties hold, 1 a property is violated, 2 bad input,
    3 a limit stopped the search, 4 /dev/kvm is not usable (conform, replay
    --on-kvm), 70 internal error.
    """


@main.command()
@click.argument("spec", type=click.Path(path_type=Path))
@click.option("--const", "consts", multiple=True, metavar="NAME=VALUE",
              help="Override a constant of the spec (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Report format.")
@click.option("--output", "-o", type=click.Path(path_type=Path),
              help="Write the report to this file (atomically) instead of stdout.")
@click.option("--engine", type=click.Choice(["auto", "vector", "explicit", "z3"]),
              default="auto", show_default=True,
              help="Checking engine: 'vector' expands whole BFS levels with NumPy; 'explicit' "
                   "expands one state at a time; 'auto' takes the vector engine when the spec "
                   "vectorises and says why when it does not; 'z3' is bounded model checking "
                   "(--bmc).")
@click.option("--bmc", "bmc_bound", type=click.IntRange(min=0), default=20, show_default=True,
              metavar="K", help="With --engine z3: look for counterexamples of up to K steps.")
@click.option("--prove", is_flag=True,
              help="With --engine z3: prove invariants and asserts for all depths by "
                   "k-induction (k up to the --bmc bound), then IC3/PDR.")
@click.option("--pdr", is_flag=True,
              help="With --engine z3: prove invariants and asserts by IC3/PDR (Z3's Spacer); "
                   "the inductive invariant found is checked and printed.")
@click.option("--symbolic", "symbolic", multiple=True, metavar="NAME",
              help="With --engine z3: leave the constant NAME unconstrained within its type, so "
                   "one run covers all its values; a counterexample says which value Z3 chose "
                   "(repeatable; implies --engine z3 under auto).")
@click.option("--max-states", type=click.IntRange(min=1), help="Stop after this many states.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Stop after this many seconds.")
@click.option("--fail-fast", is_flag=True, help="Stop at the first violation.")
@click.option("--deadlock/--no-deadlock", default=None,
              help="Check for deadlock (default: as the spec's 'option deadlock' says, on).")
@click.option("--no-timing", is_flag=True,
              help="Leave times and memory out of the report (for byte-identical output).")
@click.option("--models", "model_dirs", multiple=True, type=click.Path(path_type=Path),
              help="Extra folder to search for imported models (repeatable).")
@click.option("--color/--no-color", default=None, help="Colour the text report.")
@click.option("--witnesses", is_flag=True,
              help="Show the witness trace of every reachable property (text report).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              help="Folder for the counterexample traces: per violated property, ITF JSON "
                   "and a message-sequence chart (SVG, HTML); default "
                   "counterexamples/SPEC-NAME.")
@click.option("--no-traces", is_flag=True, help="Do not write counterexample trace files.")
@click.option("--profile", is_flag=True,
              help="Per rule instance: times fired, new states produced, seconds spent "
                   "(vector engine).")
def check(spec, consts, fmt, output, engine, bmc_bound, prove, pdr, symbolic, max_states,
          timeout, fail_fast, deadlock, no_timing, model_dirs, color, witnesses, out_dir,
          no_traces, profile):
    """Check every property of SPEC exhaustively."""
    from checker.engines.explicit import Options
    from checker.engines.explicit import check as explicit_check
    from checker.lang import load_system
    from checker.result import Status, Verdict

    notes = []
    if symbolic and engine in ("vector", "explicit"):
        click.echo(f"error: --symbolic needs --engine z3; the {engine} engine enumerates "
                   "states from one value of every constant\n"
                   "hint: use --engine z3, or --const NAME=VALUE for one value", err=True)
        sys.exit(EXIT_BAD_INPUT)
    if symbolic and engine == "auto":
        engine = "z3"
        notes.append(f"--symbolic {' '.join(symbolic)}: engine z3")
    sources = SourceCache()
    system, diags = load_system(spec, list(consts), sources, list(model_dirs), list(symbolic))
    if diags:
        _print_diagnostics(diags, sources)
        sys.exit(EXIT_BAD_INPUT)
    progress = _Progress(sys.stderr.isatty())
    options = Options(max_states=max_states, timeout=timeout, fail_fast=fail_fast,
                      deadlock=deadlock, progress=progress, profile=profile)
    vs = None
    if engine in ("auto", "vector"):
        from checker.engines.vector import compile_or_reason
        vs, why = compile_or_reason(system)
        if vs is None:
            if engine == "vector":
                click.echo(f"error: the vector engine cannot check this spec: {why}\n"
                           f"hint: use --engine explicit (or auto)", err=True)
                sys.exit(EXIT_BAD_INPUT)
            notes.append(f"vector engine not used: {why}")
    if (prove or pdr) and engine != "z3":
        click.echo("error: --prove and --pdr need --engine z3", err=True)
        sys.exit(EXIT_BAD_INPUT)
    if profile and vs is None:
        notes.append("--profile needs the vector engine; no profile")
    try:
        if engine == "z3":
            from checker.engines import bmc
            run_z3 = bmc.pdr if pdr else bmc.prove if prove else bmc.check
            result = run_z3(system, options, bmc_bound)
        elif vs is not None:
            from checker.engines.vector import check as vector_check
            result = vector_check(system, options, vs)
        else:
            result = explicit_check(system, options)
    finally:
        progress.close()
    result.notes = notes + result.notes
    if system.symbolic:
        _name_symbolic_values(result)
    if not no_traces:
        result.traces = _write_traces(result, out_dir or Path("counterexamples") / spec.stem)
    if fmt == "json":
        from checker.report.json_out import render_json
        text = render_json(result, timing=not no_timing)
    else:
        from checker.report.text import render_text  # rich: loaded only for text
        use_color = color if color is not None else (output is None and sys.stdout.isatty())
        text = render_text(result, timing=not no_timing, color=use_color, witnesses=witnesses)
    if output is not None:
        write_atomically(output, text)
    else:
        click.echo(text, nl=False)
    if result.verdict == Verdict.VIOLATED:
        sys.exit(EXIT_VIOLATED)
    if result.status != Status.COMPLETE or result.verdict == Verdict.UNKNOWN:
        sys.exit(EXIT_LIMIT)  # a limit, or a bound (--bmc), stopped short of a verdict
    sys.exit(EXIT_OK)


def _name_symbolic_values(result) -> None:
    """Say in every counterexample which values Z3 chose for the symbolic constants."""
    import dataclasses

    from checker import ir
    symbolic = [(i, v) for i, v in enumerate(result.system.variables) if v.symbolic]
    result.notes.append("symbolic: " + ", ".join(f"{v.name} (any {v.type})"
                                                  for _, v in symbolic))
    for k, p in enumerate(result.properties):
        if p.trace is None or str(p.verdict) == "holds":
            continue
        first = p.trace.steps[0].state
        chosen = ", ".join(f"{v.name}={ir.format_value(v.type, first[i])}" for i, v in symbolic)
        result.properties[k] = dataclasses.replace(
            p, reason=f"{p.reason or ''} (with {chosen})".strip())


def _write_traces(result, folder: Path) -> list[str]:
    """Write every violated property's trace into folder (atomically): ITF JSON, and the
    message-sequence chart as SVG and as a standalone HTML page."""
    from checker.report import itf, msc
    written = []
    for p in result.properties:
        if str(p.verdict) != "violated" or p.trace is None:
            continue
        path = folder / itf.file_name(p)
        stem = path.name[:-len(".itf.json")]
        try:
            write_atomically(path, itf.dumps(itf.trace_json(result, p)))
            write_atomically(folder / f"{stem}.svg", msc.render_svg(result, p))
            write_atomically(folder / f"{stem}.html", msc.render_html(result, p))
        except OSError as err:
            result.notes.append(f"could not write {path}: {err.strerror}")
            continue
        written.append(path.as_posix())
    return written


@main.command()
@click.argument("trace", type=click.Path(path_type=Path))
@click.argument("spec", type=click.Path(path_type=Path))
@click.option("--const", "consts", multiple=True, metavar="NAME=VALUE",
              help="Override a constant (default: the constants the trace records).")
@click.option("--models", "model_dirs", multiple=True, type=click.Path(path_type=Path),
              help="Extra folder to search for imported models (repeatable).")
@click.option("--on-kvm", is_flag=True,
              help="Then run the trace on the real KVM (/dev/kvm) through the spec's binding "
                   "and say whether KVM shows the same violation.")
def replay(trace, spec, consts, model_dirs, on_kvm):
    """Re-execute an ITF TRACE against SPEC step by step.

    Exit codes: 0 the trace is a behaviour of the spec and its violation shows again
    (or, for 'lost', cannot be confirmed by a replay alone: said so), 1 a step the spec
    does not allow or the violation does not show, 2 bad input. With --on-kvm: 0 KVM
    shows the violation (confirmed), 1 it does not (refuted), 3 the trace cannot run on
    KVM (a step without a mapping), 4 /dev/kvm is missing or not usable.
    """
    import json

    from checker.lang import load_system
    from checker.replay import replay as run_replay
    from checker.report.itf import ItfError, read_trace

    try:
        data = json.loads(trace.read_text())
    except OSError as err:
        click.echo(f"error: cannot read {trace}: {err.strerror}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except json.JSONDecodeError as err:
        click.echo(f"{trace}:{err.lineno}:{err.colno}: error: not JSON: {err.msg}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    meta = data.get("#meta", {}) if isinstance(data, dict) else {}
    recorded = meta.get("constants", {}) if isinstance(meta, dict) else {}
    given = {c.split("=", 1)[0] for c in consts}
    sources = SourceCache()
    system, diags = load_system(spec, list(consts), sources, list(model_dirs))
    if not diags and isinstance(recorded, dict):  # again with the trace's constants
        declared = {name for name, _t, _v in system.constants}
        merged = [f"{k}={_const_arg(v)}" for k, v in recorded.items()
                  if k not in given and k in declared]
        if merged:
            system, diags = load_system(spec, merged + list(consts), sources,
                                        list(model_dirs))
    if diags:
        _print_diagnostics(diags, sources)
        sys.exit(EXIT_BAD_INPUT)
    try:
        states, metas, meta = read_trace(system, data)
    except ItfError as err:
        click.echo(f"{trace}: error: {err}", err=True)
        click.echo("hint: was the trace written for this spec and these constants?", err=True)
        sys.exit(EXIT_BAD_INPUT)
    r = run_replay(system, states, metas, meta)
    click.echo(f"replay {trace} against {spec}")
    for st in r.steps:
        click.echo(f"  {st.index:>3}  {st.label:<40} {'ok' if st.ok else 'NOT ALLOWED'}")
    if not r.allowed:
        click.echo(f"{trace}: error: {r.message}", err=True)
        click.echo("hint: the spec changed since the trace was written, or the trace was "
                   "edited; 'irqcheck check' writes a fresh one", err=True)
        sys.exit(EXIT_VIOLATED)
    verdict = {True: "confirmed", False: "not confirmed", None: "replayed"}[r.confirmed]
    click.echo(f"{verdict}: {r.message}")
    if r.confirmed is False or not on_kvm:
        sys.exit(EXIT_VIOLATED if r.confirmed is False else EXIT_OK)
    sys.exit(_replay_on_kvm(system, states, metas))


def _replay_on_kvm(system, states, metas) -> int:
    from checker.kvm import KvmUnavailable, Machine, availability, detect_backend
    from checker.kvm.bindings import BINDINGS, replay_on_kvm
    why = availability()
    if why is not None:
        click.echo(f"error: cannot run KVM: {why}", err=True)
        return EXIT_NO_KVM
    backend = detect_backend()
    binding = BINDINGS.get(system.name)
    try:
        with Machine(ncpu=binding.ncpu if binding else 1) as m:
            r = replay_on_kvm(system, states, metas, m, backend)
    except KvmUnavailable as err:
        click.echo(f"error: cannot run KVM: {err.reason}", err=True)
        return EXIT_NO_KVM
    click.echo(f"\non KVM ({backend}):" + (f" {binding.description}" if binding else ""))
    for st in r.steps:
        got = f" delivered {', '.join(f'{v:#x}' for v in st.delivered)}" if st.delivered \
            else ""
        mark = "differs: " + "; ".join(st.differences) if st.differences else "agrees"
        click.echo(f"  {st.index:>3}  {st.label:<28} {mark}{got}")
        for k in st.known:
            click.echo(f"       known backend difference: {k}")
    click.echo(f"{r.outcome} on KVM: {r.message}")
    return {"confirmed": EXIT_OK, "refuted": EXIT_VIOLATED}.get(r.outcome, EXIT_LIMIT)


@main.command()
@click.argument("spec", type=click.Path(path_type=Path))
@click.option("--const", "consts", multiple=True, metavar="NAME=VALUE",
              help="Override a constant of the spec (repeatable).")
@click.option("--models", "model_dirs", multiple=True, type=click.Path(path_type=Path),
              help="Extra folder to search for imported models (repeatable).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              help="Folder for review.md, review.html and the projection "
                   "(default review/SPEC-NAME).")
@click.option("--project", metavar="VAR,VAR",
              help="Draw the state graph projected onto these variables (Graphviz); "
                   "'vcpu.mode' stands for every 'vcpu[i].mode'.")
@click.option("--max-states", type=click.IntRange(min=1), help="Stop after this many states.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Stop after this many seconds.")
def review(spec, consts, model_dirs, out_dir, project, max_states, timeout):
    """Review SPEC before trusting it: rule coverage and dead rules, variables that never
    change and the values each takes, vacuous properties, a projected state graph and
    the rules beside their KVM functions.

    Exit codes: 0 reviewed, 2 bad input, 3 a limit stopped the search (partial review).
    """
    from checker.engines.explicit import Options
    from checker.engines.vcompile import Unsupported
    from checker.lang import load_system
    from checker.review import markdown, render_svg, to_html
    from checker.review import review as run_review

    sources = SourceCache()
    system, diags = load_system(spec, list(consts), sources, list(model_dirs))
    if diags:
        _print_diagnostics(diags, sources)
        sys.exit(EXIT_BAD_INPUT)
    progress = _Progress(sys.stderr.isatty())
    names = [p.strip() for p in project.split(",") if p.strip()] if project else None
    try:
        r = run_review(system, Options(max_states=max_states, timeout=timeout,
                                       progress=progress), names)
    except Unsupported as err:
        click.echo(f"error: review needs the vector engine, which cannot check this spec: "
                   f"{err}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    finally:
        progress.close()
    folder = out_dir or Path("review") / spec.stem
    svg = None
    if r.projection is not None and "dot" in r.projection:
        write_atomically(folder / "projection.dot", r.projection["dot"])
        svg = render_svg(r.projection["dot"])
        if svg is not None:
            write_atomically(folder / "projection.svg", svg)
            r.projection["svg"] = True
    md = markdown(r, system)
    write_atomically(folder / "review.md", md)
    write_atomically(folder / "review.html", to_html(md, f"Review of {r.file}", svg))
    click.echo(f"review of {r.file}: {r.states:,} states, {r.transitions:,} transitions"
               + ("" if r.complete else " (partial: the search stopped early)"))
    fired = sum(1 for c in r.rules if c.fired)
    click.echo(f"rules: {fired} of {len(r.rules)} fire")
    for c in r.dead_rules:
        click.echo(f"  dead rule: {c.name} ({c.kvm or 'no KVM function'}, {c.where})")
    for v in r.constant_vars[:10]:
        click.echo(f"  never changes: {v.name} = {v.values[0]}")
    if len(r.constant_vars) > 10:
        click.echo(f"  ... and {len(r.constant_vars) - 10} more variables that never change "
                   f"(see review.md)")
    for f in r.vacuity:
        click.echo(f"  {f}")
    if r.projection is not None:
        p = r.projection
        click.echo(f"projection: {p['error']}" if "error" in p else
                   f"projection: {p['nodes']} nodes, {p['edges']} edges"
                   + ("" if svg else " (install Graphviz for the SVG; the DOT file is written)"))
    click.echo(f"written: {(folder / 'review.md').as_posix()}, "
               f"{(folder / 'review.html').as_posix()}")
    sys.exit(EXIT_OK if r.complete else EXIT_LIMIT)


def _const_arg(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


@main.command()
@click.argument("spec", type=click.Path(path_type=Path))
@click.option("--steps", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Random actions to run on the model and on KVM together.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random walk.")
@click.option("--walk", type=click.IntRange(min=1), default=40, show_default=True,
              help="Actions per scenario before both sides are reset.")
@click.option("--const", "consts", multiple=True, metavar="NAME=VALUE",
              help="Override a constant of the spec (repeatable).")
@click.option("--models", "model_dirs", multiple=True, type=click.Path(path_type=Path),
              help="Extra folder to search for imported models (repeatable).")
@click.option("--trace", "use_trace", is_flag=True,
              help="Also record KVM's kvm:* tracepoints (tracefs, root) and check each step's "
                   "events against the model's prediction.")
def conform(spec, steps, seed, walk, consts, model_dirs, use_trace):
    """Drive SPEC's KVM models and the real KVM (/dev/kvm) with the same random actions
    and compare them after every step.

    Exit codes: 0 no unexplained divergence, 1 an unexplained divergence, 2 bad input,
    4 /dev/kvm is missing or not usable.
    """
    from checker import conform as cf
    from checker.kvm import KvmUnavailable, Machine, availability, detect_backend

    sources = SourceCache()
    system, diags = cf.load_conform_system(spec, list(consts), sources, list(model_dirs))
    if diags:
        _print_diagnostics(diags, sources)
        sys.exit(EXIT_BAD_INPUT)
    why = availability()
    if why is not None:
        click.echo(f"error: cannot run KVM: {why}\nhint: conform needs a readable and "
                   "writable /dev/kvm (root, or the kvm group)", err=True)
        sys.exit(EXIT_NO_KVM)
    backend = detect_backend()
    profile = cf.PROFILES.get(backend, cf.PROFILES["unknown"])
    try:
        model = cf.Model(system, profile)
    except cf.ConformError as err:
        click.echo(f"error: {spec}: {err}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    start = time.perf_counter()
    tracer = None
    if use_trace:
        from checker.kvm.tracing import Tracer, TraceUnavailable
        try:
            tracer = Tracer()
        except TraceUnavailable as err:
            click.echo(f"error: --trace: {err.reason}\nhint: tracefs needs root; run "
                       "without --trace", err=True)
            sys.exit(EXIT_NO_KVM)
    progress = _Progress(sys.stderr.isatty())

    def on_step(s):
        if s.steps % 100 == 0:
            progress.message(f"conform · {s.steps:,}/{steps:,} steps · {s.scenarios:,} "
                             f"scenarios · {len(s.divergences)} divergence(s)",
                             time.perf_counter() - start)

    try:
        with Machine(ncpu=model.ncpu) as machine:
            summary = cf.conform(model, machine, profile, steps, seed, walk, on_step,
                                 tracer=tracer)
    except KvmUnavailable as err:
        click.echo(f"error: cannot run KVM: {err.reason}", err=True)
        sys.exit(EXIT_NO_KVM)
    finally:
        progress.close()
        if tracer is not None:
            tracer.close()
    secs = time.perf_counter() - start
    click.echo(f"conform {spec} against KVM ({backend}) · seed {seed}")
    click.echo(f"{summary.steps:,} steps in {summary.scenarios:,} scenarios · "
               f"{summary.deliveries:,} interrupts delivered · {secs:.1f} s · "
               f"at most {summary.belief_max} model states per step")
    click.echo("actions: " + ", ".join(f"{k} {v:,}" for k, v in sorted(summary.actions.items())))
    click.echo("compared after every step: " + ", ".join(profile.hard))
    click.echo("model rules not driven by the harness: " + ", ".join(model.unused))
    for text in profile.known:
        click.echo(f"known difference ({backend}): {text}")
    if summary.known:
        click.echo(f"{summary.known} divergence(s) explained by the known differences, e.g.:")
        for d in summary.known_examples[:1]:
            click.echo(f"  {d.describe()}")
    click.echo("unexplained divergences by observable: " + (", ".join(
        f"{k} {v}" for k, v in sorted(summary.by_observable.items())) or "none"))
    if tracer is not None:
        click.echo(f"tracepoints: {summary.trace_events:,} kvm:* events checked against the "
                   f"model's prediction, {len(summary.trace_problems)} mismatch(es)")
        for text in summary.trace_problems[:5]:
            click.echo(f"  trace mismatch at {text}")
        if summary.trace_problems:
            click.echo(f"\nresult: {len(summary.trace_problems)} trace mismatch(es)")
            sys.exit(EXIT_VIOLATED)
    if not summary.divergences:
        click.echo("result: no unexplained divergence")
        sys.exit(EXIT_OK)
    for d in summary.divergences:
        click.echo(f"\ndivergence at {d.describe()}")
        click.echo("minimal scenario (from reset):")
        for i, a in enumerate(d.scenario, 1):
            click.echo(f"  {i:3}  {a}")
    click.echo(f"\nresult: {len(summary.divergences)} unexplained divergence(s)")
    sys.exit(EXIT_VIOLATED)


@main.command()
@click.argument("code", required=False)
@click.option("--list", "list_all", is_flag=True, help="List every diagnostic code.")
def explain(code, list_all):
    """Explain a diagnostic code, given as E101 or as unknown-name."""
    if list_all or code is None:
        for c in CODES.values():
            click.echo(f"{c.code}  {c.slug:<20} {c.title}")
        return
    c = lookup(code)
    if c is None:
        click.echo(f"error: no diagnostic code '{code}'; see 'irqcheck explain --list'", err=True)
        sys.exit(EXIT_BAD_INPUT)
    click.echo(f"{c.code} ({c.slug}): {c.title}\n\n{c.explanation}")


def _print_diagnostics(diags, sources: SourceCache) -> None:
    for d in diags:
        click.echo(render(d, sources), err=True)
        click.echo("", err=True)
    n = len(diags)
    click.echo(f"{n} error{'s' if n != 1 else ''}; 'irqcheck explain CODE' says more",
               err=True)


def run() -> None:
    """Entry point: maps a crash of irqcheck itself to EXIT_INTERNAL."""
    # Modules Lark loads but irqcheck never uses, kept out of the process (5.4 MB of
    # resident memory in every run): OpenSSL's libcrypto (Lark keys its parser cache by
    # a SHA-256 of the grammar, which Python's built-in SHA-256 computes as well) and the
    # third-party regex module (for Unicode categories in terminals; the .irq grammar
    # has none). The process is irqcheck's own: nothing else needs them.
    if "hashlib" not in sys.modules:
        sys.modules.setdefault("_hashlib", None)
    if "lark" not in sys.modules:
        sys.modules.setdefault("regex", None)
    try:
        main(standalone_mode=True)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(EXIT_LIMIT)
    except Exception as err:  # a bug in irqcheck, never the user's input
        click.echo(f"internal error: {err.__class__.__name__}: {err}", err=True)
        click.echo("this is a bug in irqcheck; please report it with the spec and command.",
                   err=True)
        if os.environ.get("IRQCHECK_DEBUG"):
            traceback.print_exc()
        else:
            click.echo("(set IRQCHECK_DEBUG=1 to see the traceback)", err=True)
        sys.exit(EXIT_INTERNAL)
