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
