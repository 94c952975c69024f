"""What the command line's modules share: how a command fails (a clear message, exit code 2, nothing changed)."""

from __future__ import annotations

import typer
from rich.console import Console

console = Console()


def fail(message: str) -> typer.Exit:
    """The error to raise: the message printed, exit code 2."""
    console.print(f"[bold red]错误 error:[/] {message}")
    return typer.Exit(code=2)
