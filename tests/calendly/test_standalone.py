"""The connector stands alone: importing all of calendly/ loads nothing of the app or its web and
database frameworks (the import-linter contract will say the same about the source)."""

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import calendly.client

PACKAGE_DIR = Path(calendly.client.__file__).parent
FORBIDDEN = ("flask", "sqlalchemy", "store", "mirror", "services", "blueprints", "devtools")


def test_every_connector_module_imports_without_the_app():
    modules = ["calendly"] + [
        f"calendly.{info.name}" for info in pkgutil.iter_modules([str(PACKAGE_DIR)])
    ]
    assert {"calendly.client", "calendly.transport", "calendly.signature"} <= set(modules)
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PACKAGE_DIR.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    loaded = set(json.loads(result.stdout))
    assert loaded.isdisjoint(FORBIDDEN), sorted(loaded & set(FORBIDDEN))
