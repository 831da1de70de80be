"""The .irq front end: files to one ir.System, or diagnostics."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from checker import ir
from checker.diagnostics import Diagnostic, SourceCache, sort_key
from checker.lang.loader import load_spec
from checker.lang.resolve import resolve

sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))  # deep but valid expressions

_CONST = re.compile(r"^\s*([A-Za-z_][A-Za-z_0-9]*)\s*=\s*(\S+)\s*$")


def parse_overrides(items: list[str]):
    """'NAME=VALUE' strings from --const to {name: (value text, None)}, or diagnostics."""
    out, diags = {}, []
    for item in items:
        m = _CONST.match(item)
        if not m:
            diags.append(Diagnostic("E401", f"--const {item!r} is not NAME=VALUE", None,
                                    "write e.g. --const C=2"))
            continue
        out[m.group(1)] = (m.group(2), None)
    return out, diags


def load_system(path: Path, consts: list[str] | None = None, sources: SourceCache | None = None,
                model_dirs: list[Path] | None = None, symbolic: list[str] | None = None,
                ) -> tuple[ir.System | None, list[Diagnostic]]:
    """Parse, resolve and type-check a spec and its imports.

    Stops after the first stage that reports problems, with all of that stage's
    diagnostics in source order."""
    sources = sources if sources is not None else SourceCache()
    overrides, diags = parse_overrides(consts or [])
    if diags:
        return None, diags
    modules, diags = load_spec(path, sources, model_dirs)
    if diags:
        return None, sorted(diags, key=sort_key)
    spec = modules[-1]
    try:
        system, diags = resolve(modules, Path(spec.file).stem, spec.file, overrides,
                                tuple(symbolic or ()))
    except RecursionError:
        return None, [Diagnostic("E007", "a declaration is nested too deeply to resolve",
                                 None)]
    return system, sorted(diags, key=sort_key)
