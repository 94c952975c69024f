"""Each module the command line imports when a command runs imports on its own in a fresh interpreter: an import
cycle (a module that reaches ``gateways.api``, which builds the app, which imports the module again) shows only there,
never in a test process that imported the app first."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENTRY_MODULES = sorted(f"gateways.{p.stem}" for p in (ROOT / "gateways").glob("*.py") if p.stem != "__init__") + [
    "gateways.api.storage",
    "gateways.api.auth",
    "gateways.bench.store",
    "sync.host",
    "projections.rebuild",
]


@pytest.mark.parametrize("module", ENTRY_MODULES)
def test_the_module_imports_in_a_fresh_interpreter(module: str) -> None:
    done = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_every_module_of_the_project_imports() -> None:
    """Every module, one after the other in one fresh interpreter: a name one module takes from another that is no
    longer there fails here, whether or not a test imports that module."""
    code = (
        "import importlib, pkgutil\n"
        "for package in ('domain', 'projections', 'sync', 'gateways'):\n"
        "    root = importlib.import_module(package)\n"
        "    for module in pkgutil.walk_packages(root.__path__, package + '.'):\n"
        "        if '.migrations.' not in module.name:  # alembic's scripts: run by alembic, not imported\n"
        "            importlib.import_module(module.name)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
