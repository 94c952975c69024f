"""部署拓扑 / which nodes each process of a deployment hosts: one TOML file (``deploy/topology.example.toml``).

Each ``[process.NAME]`` table is one process: ``role`` (``sync`` for ``yipanqi sync run``, ``serve`` for
``yipanqi serve``), the nodes it hosts (``region``: a region's whole subtree, ``with_ancestors`` adds the region's
ancestors; ``nodes``: named codes; both may be given), and for a gateway its ``port``, for a sync process its
``metrics_port``. A systemd unit names the file and its process (``deploy/systemd``); ``yipanqi topology check``
reads the file as those processes will, and says what is wrong with it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from domain.base import DomainError, NodeRef
from domain.hierarchy import Hierarchy

ROLES = ("sync", "serve")
_KEYS = {"role", "region", "nodes", "with_ancestors", "port", "metrics_port"}


class TopologyError(ValueError):
    """What is wrong with a topology file: where (file, process, field) and which rule."""


@dataclass(frozen=True)
class Process:
    name: str
    role: str
    region: str | None
    nodes: tuple[str, ...]
    with_ancestors: bool
    port: int | None
    metrics_port: int | None

    def hosted(self, hierarchy: Hierarchy) -> list[NodeRef]:
        """The nodes it hosts, each once, province first."""
        divisions = [hierarchy.resolve(code) for code in self.nodes]
        if self.region:
            root = hierarchy.resolve(self.region)
            divisions += list(hierarchy.subtree(root))
            if self.with_ancestors:
                divisions += list(hierarchy.ancestors(root))
        unique = {d.id: hierarchy.ref(d) for d in divisions}
        return sorted(unique.values(), key=lambda n: (n.level.depth, n.code))


def load_topology(path: Path, hierarchy: Hierarchy) -> dict[str, Process]:
    """Every process of the file, checked: known roles and keys, codes of real divisions, ports in range, and no
    node synced by two processes (its relay and ingest run in one place)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise TopologyError(f"{path}: cannot read: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise TopologyError(f"{path}: not valid TOML: {e}") from None
    tables = data.get("process")
    if not isinstance(tables, dict) or not tables:
        raise TopologyError(f"{path}: no [process.NAME] table: name at least one process")
    processes = {name: _process(path, name, table, hierarchy) for name, table in tables.items()}
    owners: dict[str, list[str]] = {}
    for process in processes.values():
        for node in process.hosted(hierarchy) if process.role == "sync" else ():
            owners.setdefault(node.code, []).append(process.name)
    twice = {code: names for code, names in sorted(owners.items()) if len(names) > 1}
    if twice:
        said = "; ".join(f"{code} in {', '.join(names)}" for code, names in list(twice.items())[:5])
        raise TopologyError(f"{path}: {len(twice)} nodes are synced by two processes ({said}): each by one only")
    return processes


def process_of(path: Path, name: str, hierarchy: Hierarchy, role: str) -> Process:
    processes = load_topology(path, hierarchy)
    if name not in processes:
        raise TopologyError(f"{path}: no process {name!r} (there are: {', '.join(sorted(processes))})")
    process = processes[name]
    if process.role != role:
        raise TopologyError(f"{path}: process {name!r} has role {process.role!r}, not {role!r}")
    return process


def _process(path: Path, name: str, table: Any, hierarchy: Hierarchy) -> Process:
    where = f"{path}: [process.{name}]"
    if not isinstance(table, dict):
        raise TopologyError(f"{where}: must be a table")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise TopologyError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(_KEYS))})")
    role = table.get("role")
    if role not in ROLES:
        raise TopologyError(f"{where}: role must be one of {', '.join(ROLES)} (got {role!r})")
    region, nodes = table.get("region"), table.get("nodes", [])
    if region is not None and not isinstance(region, str):
        raise TopologyError(f"{where}: region must be a division code as a string")
    if not isinstance(nodes, list) or not all(isinstance(n, str) for n in nodes):
        raise TopologyError(f"{where}: nodes must be a list of division codes as strings")
    if not region and not nodes:
        raise TopologyError(f"{where}: names no node: give a region or nodes")
    named = [("nodes", code) for code in nodes] + ([("region", region)] if region else [])
    for key, code in named:
        try:
            hierarchy.resolve(code)
        except DomainError as e:
            raise TopologyError(f"{where}: {key}: {e}") from None
    ancestors = table.get("with_ancestors", False)
    if not isinstance(ancestors, bool):
        raise TopologyError(f"{where}: with_ancestors must be true or false")
    return Process(name, role, region, tuple(nodes), ancestors, _port(where, table, "port"), _port(where, table, "metrics_port"))


def _port(where: str, table: dict[str, Any], key: str) -> int | None:
    value = table.get(key)
    if value is None:
        return None
    if type(value) is not int or not 1 <= value <= 65535:
        raise TopologyError(f"{where}: {key} must be a port number from 1 to 65535 (got {value!r})")
    return value
