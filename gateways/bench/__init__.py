"""Benchmarks: each measures our path and its raw ceiling in the same run and returns the figures as one dict."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console


def print_result(result: dict[str, Any], *, as_json: bool, console: Console) -> None:
    """A benchmark's figures: one JSON line last (``--json``, for scripts), or pretty for a person."""
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False))
    else:
        console.print_json(data=result)
