from pathlib import Path

from checker.engines.explicit import Options, check
from checker.lang import load_system

ROOT = Path(__file__).resolve().parent.parent
SPECS = Path(__file__).resolve().parent / "specs"


def system_of(path, consts=()):
    system, diags = load_system(Path(path), list(consts))
    assert not diags, [d.message for d in diags]
    return system


def system_from_text(tmp_path, text, name="spec.irq", consts=()):
    p = tmp_path / name
    p.write_text(text)
    return system_of(p, consts)


def run(path, consts=(), **options):
    return check(system_of(path, consts), Options(**options))


def verdicts(result):
    return {p.name: str(p.verdict) for p in result.properties}
