"""The abstract syntax tree of .irq files: frozen dataclasses that carry spans."""

from __future__ import annotations

from dataclasses import dataclass

from checker.diagnostics import Span


@dataclass(frozen=True)
class Node:
    span: Span


# ---- types ----
@dataclass(frozen=True)
class BoolType(Node):
    pass


@dataclass(frozen=True)
class RangeType(Node):
    lo: Expr
    hi: Expr


@dataclass(frozen=True)
class EnumType(Node):
    members: tuple[Name, ...]


@dataclass(frozen=True)
class SetType(Node):
    elem: TypeExpr


@dataclass(frozen=True)
class ArrayType(Node):
    index: TypeExpr
    elem: TypeExpr


@dataclass(frozen=True)
class RecordType(Node):
    fields: tuple[tuple[Name, TypeExpr], ...]


@dataclass(frozen=True)
class NamedType(Node):
    expr: Expr  # a Name (anything else is reported by the resolver)


TypeExpr = BoolType | RangeType | EnumType | SetType | ArrayType | RecordType | NamedType


# ---- expressions ----
@dataclass(frozen=True)
class Name(Node):
    id: str


@dataclass(frozen=True)
class Number(Node):
    value: int


@dataclass(frozen=True)
class BoolLit(Node):
    value: bool


@dataclass(frozen=True)
class SetLit(Node):
    elems: tuple[Expr, ...]


@dataclass(frozen=True)
class RecordLit(Node):
    fields: tuple[tuple[Name, Expr], ...]


@dataclass(frozen=True)
class ArrayLit(Node):
    elems: tuple[Expr, ...]


@dataclass(frozen=True)
class Index(Node):
    base: Expr
    index: Expr


@dataclass(frozen=True)
class FieldAccess(Node):
    base: Expr
    name: Name


@dataclass(frozen=True)
class Call(Node):
    func: Expr
    args: tuple[Arg, ...]


@dataclass(frozen=True)
class Arg(Node):
    name: Name | None
    value: Expr


@dataclass(frozen=True)
class Unary(Node):
    op: str  # 'not', '-'
    arg: Expr


@dataclass(frozen=True)
class Binary(Node):
    op: str  # + - * / % & == != < <= > >= and or => in notin
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Ite(Node):
    cond: Expr
    then: Expr
    els: Expr


@dataclass(frozen=True)
class Quant(Node):
    kind: str  # 'forall' | 'exists'
    var: Name
    domain: TypeExpr
    body: Expr


Expr = (Name | Number | BoolLit | SetLit | RecordLit | ArrayLit | Index | FieldAccess | Call | Unary
        | Binary | Ite | Quant)


# ---- statements ----
@dataclass(frozen=True)
class Assign(Node):
    target: Expr
    op: str  # ':=', '+=', '-='
    value: Expr


@dataclass(frozen=True)
class CallStmt(Node):
    call: Expr


@dataclass(frozen=True)
class If(Node):
    cond: Expr
    then: tuple[Stmt, ...]
    els: tuple[Stmt, ...]


@dataclass(frozen=True)
class Let(Node):
    name: Name
    value: Expr


@dataclass(frozen=True)
class For(Node):
    var: Name
    domain: TypeExpr
    body: tuple[Stmt, ...]


@dataclass(frozen=True)
class Assert(Node):
    name: Name
    cond: Expr
    pclass: Name | None = None  # lost, duplicated, window, priority (None: generic)


@dataclass(frozen=True)
class Skip(Node):
    pass


Stmt = Assign | CallStmt | If | Let | For | Assert | Skip


# ---- declarations ----
@dataclass(frozen=True)
class Param(Node):
    name: Name
    type: TypeExpr


@dataclass(frozen=True)
class Annotation(Node):
    name: Name
    value: str


@dataclass(frozen=True)
class Import(Node):
    targets: tuple[tuple[str, bool, Span], ...]  # (name or path, is_path, span)


@dataclass(frozen=True)
class ConstDecl(Node):
    name: Name
    type: TypeExpr
    value: Expr


@dataclass(frozen=True)
class TypeDecl(Node):
    name: Name
    type: TypeExpr


@dataclass(frozen=True)
class VarDecl(Node):
    names: tuple[Name, ...]
    type: TypeExpr
    init: Expr | None


@dataclass(frozen=True)
class DefDecl(Node):
    name: Name
    params: tuple[Param, ...]
    body: Expr


@dataclass(frozen=True)
class ProcDecl(Node):
    annotations: tuple[Annotation, ...]
    name: Name
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]


@dataclass(frozen=True)
class RuleDecl(Node):
    annotations: tuple[Annotation, ...]
    name: Name
    params: tuple[Param, ...]
    guard: Expr | None
    body: tuple[Stmt, ...]


@dataclass(frozen=True)
class InvariantDecl(Node):
    name: Name
    expr: Expr
    pclass: Name | None = None


@dataclass(frozen=True)
class ReachableDecl(Node):
    name: Name
    expr: Expr


@dataclass(frozen=True)
class LostDecl(Node):
    """lost NAME(params): P ~> Q -- from every reachable state where P holds, a state where
    Q holds can still be reached (AG (P => EF Q)), for every value of the parameters."""

    name: Name
    params: tuple[Param, ...]
    pre: Expr
    post: Expr


@dataclass(frozen=True)
class CheckDecl(Node):
    classes: tuple[Name, ...]


@dataclass(frozen=True)
class OptionDecl(Node):
    name: Name
    value: Expr


@dataclass(frozen=True)
class ComponentDecl(Node):
    name: Name
    params: tuple[Param, ...]
    items: tuple[Decl, ...]


@dataclass(frozen=True)
class InstanceDecl(Node):
    name: Name
    index_var: Name | None
    index_domain: TypeExpr | None
    component: Name
    args: tuple[Arg, ...]


Decl = (Import | ConstDecl | TypeDecl | VarDecl | DefDecl | ProcDecl | RuleDecl | InvariantDecl
        | ReachableDecl | LostDecl | CheckDecl | OptionDecl | ComponentDecl | InstanceDecl)


@dataclass(frozen=True)
class Module:
    file: str
    items: tuple[Decl, ...]
