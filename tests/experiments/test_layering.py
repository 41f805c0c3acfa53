"""Experiments use only the public library API, and the library never imports upward.

Read from the source with ``ast``: an experiment module may import the public names of
``nndl.experiments`` (``from . import register``), its framework modules (config, context,
registry, result, rules, claims) and public names of library subpackages (listed in their
``__all__``); never a private module or name, and never another experiment module.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

import nndl
import nndl.experiments

ROOT = Path(nndl.__file__).parent
FRAMEWORK = {"config", "context", "registry", "result", "rules", "claims"}
EXPERIMENT_FILES = sorted(
    p for p in (ROOT / "experiments").glob("*.py") if re.match(r"[gpfvlc]_", p.name)
)


def _imports(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            yield node.level, node.module or "", [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield 0, alias.name, []


@pytest.mark.parametrize("path", EXPERIMENT_FILES, ids=lambda p: p.name)
def test_experiments_import_only_public_library_names(path):
    problems = []
    for level, module, names in _imports(path):
        if level == 1 and not module:  # from . import y: the framework's public names
            outside = [n for n in names if n not in nndl.experiments.__all__]
            if outside:
                problems.append(f"imports {outside} from the package, not in its __all__")
            continue
        if level == 1:  # from .x import y
            if module.split(".")[0] not in FRAMEWORK:
                problems.append(f"imports another experiment or a private module: .{module}")
            continue
        if level > 1 or module.startswith("nndl.experiments") or module == "nndl.experiments":
            problems.append(f"imports {'.' * level}{module} (use the framework modules only)")
            continue
        if not module.startswith("nndl"):
            continue
        parts = module.split(".")
        if any(p.startswith("_") for p in parts):
            problems.append(f"imports the private module {module}")
            continue
        if parts[1:2] in (["cli"], ["report"]):
            problems.append(f"imports {module}")
            continue
        public = set(getattr(importlib.import_module(module), "__all__", []))
        private = [n for n in names if n.startswith("_") or (public and n not in public)]
        if private:
            problems.append(f"imports non-public names {private} from {module}")
    assert not problems, "\n".join(problems)


def test_library_never_imports_experiments_report_or_cli():
    offenders = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(("experiments/", "report/", "cli/")) or rel == "__main__.py":
            continue
        for level, module, _ in _imports(path):
            if level == 0 and re.match(r"nndl\.(experiments|report|cli)\b", module):
                offenders.append(f"{rel}: {module}")
            if level > 0 and re.match(r"(experiments|report|cli)\b", module):
                offenders.append(f"{rel}: {'.' * level}{module}")
    assert not offenders, offenders
