"""The package's shape: each subpackage of asr/ is a stage, and a module imports
only from its own stage or lower ones (docs/architecture.md). Every import is
checked, those inside functions too, by walking each module's syntax tree; ruff's
banned-api (pyproject.toml) says the same for the app and Gradio as you type."""

import ast
from pathlib import Path

import pytest

import asr

PACKAGE = Path(asr.__file__).parent
STAGES = (  # lowest first
    "core", "audio", "data", "model", "decoding",
    "inference", "training", "synthesis", "app",
)  # fmt: skip
TOP = len(STAGES)  # asr/__main__.py and asr/cli.py: the command, above everything
API = STAGES.index("inference")  # ``import asr``: the public API re-exports the stages
#                                  up to inference (load_model, StreamingRecognizer)
MODULES = sorted(PACKAGE.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def rank(module: str) -> int:
    """The stage of ``asr.<stage>...``; the public API is the inference stage's face,
    the command is on top."""
    parts = module.split(".")
    if module == "asr":
        return API
    return STAGES.index(parts[1]) if parts[1] in STAGES else TOP


def imported(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every asr import in the file, relative ones resolved;
    ``from X import name`` counts as importing X.name when that is a module."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                target = f"{module}.{alias.name}"
                is_module = (PACKAGE.parent / target.replace(".", "/")).is_dir() or (
                    PACKAGE.parent / (target.replace(".", "/") + ".py")
                ).is_file()
                found.append((node.lineno, target if is_module else module))
    return [(line, m) for line, m in found if m == "asr" or m.startswith("asr.")]


def violations(path: Path) -> list[str]:
    here = module_name(path)
    problems = []
    for line, module in imported(path):
        if module.startswith("asr.app") and not here.startswith("asr.app"):
            problems.append(f"{path}:{line}: {here} imports the app ({module})")
        elif rank(module) > rank(here):
            problems.append(
                f"{path}:{line}: {here} ({STAGES[rank(here)]}) imports {module}, "
                "a higher stage"
            )
    return problems


def test_every_stage_is_a_subpackage_with_a_docstring():
    for stage in STAGES:
        init = PACKAGE / stage / "__init__.py"
        assert init.is_file(), init
        assert ast.get_docstring(ast.parse(init.read_text())), init
    loose = {p.name for p in PACKAGE.glob("*.py")}
    assert loose == {"__init__.py", "__main__.py", "cli.py"}


@pytest.mark.parametrize(
    "path", MODULES, ids=[str(p.relative_to(PACKAGE)) for p in MODULES]
)
def test_imports_go_down_the_stages(path):
    assert violations(path) == []


@pytest.mark.parametrize(
    "source, module, bad",
    [
        ("model/encoder.py", "from ..decoding.beam import BeamSearchDecoder", True),
        ("model/encoder.py", "from ..training import train", True),
        ("audio/io.py", "from ..model.encoder import Encoder", True),
        ("inference/batch.py", "import asr.app", True),
        ("training/train.py", "from ..app.handlers import LiveSession", True),
        ("core/text.py", "import asr", True),
        ("decoding/match.py", "from ..inference.batch import collect_inputs", True),
        ("inference/tune.py", "from ..data.manifest import read_manifest", False),
        ("training/train.py", "from ..inference.evaluate import dev_scores", False),
        ("decoding/beam.py", "from .wordlm import load_lm", False),
        ("app/ui.py", "import asr", False),
    ],
)
def test_the_guard_catches_an_upward_import(tmp_path, monkeypatch, source, module, bad):
    """The check itself, on a copy of a module with one import added."""
    copy = PACKAGE / source
    path = tmp_path / "asr" / source
    path.parent.mkdir(parents=True)
    path.write_text(f"{module}\n" + copy.read_text(encoding="utf-8"))
    monkeypatch.setattr(f"{__name__}.PACKAGE", tmp_path / "asr")
    for stage in STAGES:  # the folders the resolution of ``from X import Y`` looks at
        (tmp_path / "asr" / stage).mkdir(exist_ok=True)
    assert bool(violations(path)) is bad
