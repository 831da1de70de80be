"""Scopes and bindings of the resolver: what a name denotes, in which context."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from checker import ir
from checker.lang import ast

if TYPE_CHECKING:
    from checker.lang.resolve import Resolver

BUILTINS = {"size": 1, "max": None, "min": None, "empty": 1, "abs": 1}


class Fail(Exception):
    """Raised to abandon one expression after its diagnostic was reported."""


# ---------------------------------------------------------------- bindings
@dataclass
class BConst:
    type: ir.Type
    value: object


@dataclass
class BExpr:
    expr: ir.Expr


@dataclass
class BVar:
    var: int
    self_expr: ir.Expr | None


@dataclass
class BType:
    type: ir.Type


@dataclass
class BDef:
    decl: ast.DefDecl
    ctx: Ctx


@dataclass
class BProc:
    decl: ast.ProcDecl
    ctx: Ctx


@dataclass
class BBuiltin:
    name: str


@dataclass
class Instance:
    decl: ast.InstanceDecl
    comp: ast.ComponentDecl
    index_type: ir.Type | None
    members: dict = field(default_factory=dict)  # member name -> decl
    var_ids: dict = field(default_factory=dict)  # member var name -> variable index
    args: dict = field(default_factory=dict)  # parameter name -> ast.Arg

    @property
    def name(self) -> str:
        return self.decl.name.id


@dataclass
class BInstance:
    inst: Instance


# meta values: things a name can denote that are not values
@dataclass
class InstanceRef:
    inst: Instance
    self_expr: ir.Expr | None


@dataclass
class CallableRef:
    binding: BDef | BProc | BBuiltin
    name: str


# ---------------------------------------------------------------- contexts
class Ctx(ABC):
    """A declaration context: the global one, or one component instance."""

    @abstractmethod
    def lookup(self, name: str):
        """The binding of a name declared in this context (or the global one), or None."""

    @abstractmethod
    def names(self) -> set[str]:
        """Every name visible in this context (for did-you-mean hints)."""


class GlobalCtx(Ctx):
    def __init__(self, resolver: Resolver):
        self.r = resolver
        self.table: dict[str, object] = {}

    def lookup(self, name: str):
        return self.r.global_binding(name)

    def names(self) -> set[str]:
        return set(self.table) | set(BUILTINS)


class InstanceCtx(Ctx):
    def __init__(self, resolver: Resolver, inst: Instance, self_expr: ir.Expr | None):
        self.r = resolver
        self.inst = inst
        self.self_expr = self_expr
        self._cache: dict[str, object] = {}

    def lookup(self, name: str):
        if name in self._cache:
            return self._cache[name]
        decl = self.inst.members.get(name)
        if decl is None:
            return self.r.global_binding(name)
        self._cache[name] = InProgress()
        binding = self.r.member_binding(self, name, decl)
        self._cache[name] = binding
        return binding

    def names(self) -> set[str]:
        return set(self.inst.members) | self.r.gctx.names()


class Scope:
    def __init__(self, ctx: Ctx, parent: Scope | None = None):
        self.ctx = ctx
        self.parent = parent
        self.local: dict[str, object] = {}

    def child(self) -> Scope:
        return Scope(self.ctx, self)

    def lookup(self, name: str):
        s = self
        while s is not None:
            if name in s.local:
                return s.local[name]
            s = s.parent
        return self.ctx.lookup(name)

    def names(self) -> set[str]:
        out, s = set(), self
        while s is not None:
            out |= set(s.local)
            s = s.parent
        return out | self.ctx.names()


# ---------------------------------------------------------------- markers
@dataclass
class Broken:
    """A declaration whose own diagnostic was already reported."""


@dataclass
class StateTooEarly:
    """A state variable named where only constants can be used."""


@dataclass
class InProgress:
    """A declaration whose value is being computed (a cycle when met again)."""


@dataclass
class Other:
    decl: object


def where(decl) -> str:
    span = getattr(decl, "span", None)
    return str(span) if span else "?"


