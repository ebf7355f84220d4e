"""The layering is a contract: import-linter checks it, and breaking it fails the check.

Each test plants one import against one contract in a copy of the tree and runs `lint-imports`
there, so that a contract that silently stopped checking anything would be noticed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("blueprints", "services", "mirror", "store", "calendly", "devtools")
# gunicorn.conf.py is gunicorn's, read from the working directory (it imports nothing of ours).
ENTRY_MODULES = {"app.py", "wsgi.py", "config.py", "cli.py", "gunicorn.conf.py"}
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", "pyproject.toml"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin", "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def tree(tmp_path) -> Path:
    """A copy of the project's packages and contracts to break."""
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def plant(tree: Path, module: str, line: str) -> None:
    path = tree / module
    path.write_text(f"{line}  # planted by the test\n" + path.read_text())


def test_only_the_entry_modules_sit_at_the_top():
    assert {path.name for path in ROOT.glob("*.py")} == ENTRY_MODULES


def test_the_tree_keeps_every_contract(tree):
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("mirror/sync.py", "import services.settings", "Layers: blueprints -> services"),
        ("store/models.py", "import calendly.errors", "Layers: blueprints -> services"),
        ("calendly/errors.py", "import flask", "The Calendly connector imports nothing"),
        ("services/queries.py", "import devtools.simulator", "The product never imports devtools"),
        ("store/clock.py", "import store.models", "No import cycles inside any package"),
    ],
    ids=["mirror imports services", "store imports calendly", "connector imports flask",
         "product imports devtools", "a cycle"],
)  # fmt: skip
def test_each_contract_fails_on_an_import_against_it(tree, module, line, contract):
    plant(tree, module, line)
    result = lint_imports(tree)
    assert result.returncode != 0
    broken = [row for row in result.stdout.splitlines() if row.endswith("BROKEN")]
    assert len(broken) == 1 and broken[0].startswith(contract), result.stdout
