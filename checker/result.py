"""What every engine returns: one ordered Verdict per property, statistics, traces."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from checker import ir


class Verdict(enum.IntEnum):
    """Ordered: the verdict of a set of results is the maximum."""

    HOLDS = 0
    UNKNOWN = 1
    VIOLATED = 2

    def __str__(self) -> str:
        return self.name.lower()


class Status(enum.Enum):
    COMPLETE = "complete"
    STATE_LIMIT = "state-limit"
    TIMEOUT = "timeout"
    INTERRUPTED = "interrupted"
    STOPPED = "stopped"  # --fail-fast after the first violation
    MODEL_ERROR = "model-error"


@dataclass(frozen=True)
class Step:
    """One rule firing and the state after it (for step 0: no rule, the initial state)."""

    rule: str | None
    params: tuple[tuple[str, object], ...]  # (name, value as the spec writes it)
    label: str  # 'init', 'raise(p=0)', 'lapic[1].eoi'
    kvm: str | None
    component: str | None  # 'ioapic', 'lapic[1]'
    state: tuple
    rule_index: int | None = None
    param_values: tuple = ()


@dataclass(frozen=True)
class Trace:
    steps: tuple[Step, ...]
    loop: int | None = None  # index of the step a lasso returns to

    def __len__(self) -> int:
        return len(self.steps) - 1  # number of transitions

    def __bool__(self) -> bool:  # a trace of the initial state alone is still a trace
        return True


@dataclass(frozen=True)
class PropertyResult:
    name: str
    kind: str  # 'invariant' | 'action' | 'deadlock' | 'runtime'
    verdict: Verdict
    trace: Trace | None = None
    reason: str | None = None
    faulty_step: bool = False  # the last step of the trace hit a run-time error
    pclass: str = "generic"  # lost, duplicated, window, priority or generic
    params: tuple = ()  # 'lost': the parameter values (name, IR value) of the violation


@dataclass
class Stats:
    states: int = 0
    transitions: int = 0
    depth: int = 0
    seconds: float = 0.0
    peak_rss_mb: float = 0.0
    bytes_per_state: float | None = None
    compile_seconds: float = 0.0
    load_factor: float | None = None  # of the visited set (vector engine)
    visited_mb: float | None = None  # visited set and kept levels (vector engine)

    @property
    def states_per_second(self) -> float:
        return self.states / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Result:
    spec: str
    engine: str
    system: ir.System
    properties: list[PropertyResult]
    stats: Stats
    status: Status = Status.COMPLETE
    message: str | None = None
    constants: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # e.g. why the vector engine was not used
    profile: list[dict] | None = None  # per rule instance: fired, new states, seconds
    traces: list[str] = field(default_factory=list)  # counterexample files written

    @property
    def verdict(self) -> Verdict:
        return max((p.verdict for p in self.properties), default=Verdict.HOLDS)


def step_params(rule: ir.Rule, values: tuple) -> tuple[tuple[str, object], ...]:
    """Parameter values for display (enum members by name, bools as true/false)."""
    return tuple((n, ir.format_value(t, v)) for (n, t), v in zip(rule.params, values))


def make_step(rule: ir.Rule | None, values: tuple, state: tuple, rule_index=None) -> Step:
    """A trace step; a rule of an instance array is labelled 'lapic[1].eoi'."""
    if rule is None:
        return Step(None, (), "init", None, None, state)
    params = list(step_params(rule, values))
    name, comp = rule.name, rule.component
    if rule.instance_param is not None and params and params[0][0] == rule.instance_param:
        c, _, local = rule.name.partition(".")
        comp = f"{c}[{params[0][1]}]"
        name = f"{comp}.{local}"
        params = params[1:]
    label = name if not params else f"{name}({', '.join(f'{n}={v}' for n, v in params)})"
    return Step(rule.name, tuple(params), label, rule.kvm, comp, state, rule_index,
                tuple(values))
