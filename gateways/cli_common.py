"""What the command line's modules share: how a command fails (a clear message, exit code 2, nothing changed), and
how a process takes what it hosts from a topology file."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from domain.hierarchy import Hierarchy
from gateways.topology import Process, TopologyError, process_of

console = Console()


def fail(message: str) -> typer.Exit:
    """The error to raise: the message printed, exit code 2."""
    console.print(f"[bold red]错误 error:[/] {message}")
    return typer.Exit(code=2)


def topology_process(
    hierarchy: Hierarchy, topology: Path | None, process: str | None, role: str, *, named: bool
) -> Process | None:
    """The process ``--topology FILE --process NAME`` names (None: neither option given); ``named``: whether the
    command line also named nodes (refused beside a topology, which says what the process hosts)."""
    if topology is None and process is None:
        return None
    if topology is None or process is None:
        raise fail("--topology FILE and --process NAME go together")
    if named:
        raise fail("the topology file says which nodes this process hosts: no --node or --region beside it")
    try:
        return process_of(topology, process, hierarchy, role)
    except TopologyError as e:
        raise fail(str(e)) from None
