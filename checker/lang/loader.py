"""Reading a spec and the model files it imports, in dependency order."""

from __future__ import annotations

from pathlib import Path

from checker.diagnostics import Diagnostic, SourceCache, Span
from checker.lang import ast
from checker.lang.parser import parse


def find_import(name: str, is_path: bool, importer: Path, model_dirs: list[Path]) -> Path | None:
    """Where 'import name' of importer points: see the E006 explanation."""
    if is_path:
        p = (importer.parent / name)
        return p if p.is_file() else None
    fname = name if name.endswith(".irq") else name + ".irq"
    candidates = [importer.parent / fname]
    for d in [importer.parent, *importer.parent.parents]:
        candidates.append(d / "models" / fname)
    candidates += [d / fname for d in model_dirs]
    return next((c for c in candidates if c.is_file()), None)


class Loader:
    def __init__(self, sources: SourceCache, model_dirs: list[Path] | None = None):
        self.sources = sources
        self.model_dirs = model_dirs or []
        self.modules: list[ast.Module] = []
        self.diags: list[Diagnostic] = []
        self._done: set[Path] = set()
        self._active: list[Path] = []

    def load(self, path: Path, span: Span | None = None) -> None:
        path = path.resolve()
        if path in self._done:
            return
        if path in self._active:
            chain = " -> ".join(p.name for p in self._active + [path])
            self.diags.append(Diagnostic("E005", f"import cycle: {chain}", span,
                                         "move shared declarations into a third file"))
            return
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as err:
            self.diags.append(Diagnostic("E004", f"cannot read {path}: {err.__class__.__name__}",
                                         span, "check the path"))
            return
        file = _display_path(path)
        self.sources.add(file, text)
        module, diags = parse(text, file)
        self.diags += diags
        if module is None:
            self._done.add(path)
            return
        self._active.append(path)
        for item in module.items:
            if isinstance(item, ast.Import):
                for name, is_path, tspan in item.targets:
                    target = find_import(name, is_path, path, self.model_dirs)
                    if target is None:
                        self.diags.append(Diagnostic(
                            "E006", f"cannot find model '{name}'", tspan,
                            "looked next to the file and in models/ folders above it"))
                    else:
                        self.load(target, tspan)
        self._active.pop()
        self._done.add(path)
        self.modules.append(module)


def _display_path(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def load_spec(path: Path, sources: SourceCache, model_dirs: list[Path] | None = None):
    """(modules in dependency order, the spec's own module last; diagnostics)."""
    loader = Loader(sources, model_dirs)
    loader.load(path)
    return loader.modules, loader.diags
