"""The deployment topology file (``gateways.topology``): what each process hosts, and a clear error for each mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.hierarchy import Hierarchy
from gateways.topology import TopologyError, load_topology, process_of

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "topology.example.toml"


@pytest.fixture(scope="module")
def hunan() -> Hierarchy:
    return Hierarchy.load()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "topology.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_example_is_valid_and_hosts_what_it_says(hunan: Hierarchy) -> None:
    processes = load_topology(EXAMPLE, hunan)
    assert {p.role for p in processes.values()} == {"sync", "serve"}
    county = processes["county-430582"]
    hosted = county.hosted(hunan)
    assert hosted[0].code == "430582" and len(hosted) == 1 + len(list(hunan.children(hunan.by_code("430582"))))
    assert county.metrics_port == 9102
    province = processes["province"].hosted(hunan)
    assert province[0].code == "430000" and {n.level.name for n in province[1:]} == {"PREFECTURE"}


def test_a_region_with_its_ancestors_comes_province_first(tmp_path: Path, hunan: Hierarchy) -> None:
    path = write(tmp_path, '[process.a]\nrole = "sync"\nregion = "430582101"\nwith_ancestors = true\n')
    assert [n.code for n in load_topology(path, hunan)["a"].hosted(hunan)] == ["430000", "430500", "430582", "430582101"]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("", "no [process.NAME] table"),
        ("[process", "not valid TOML"),
        ('[process.a]\nrole = "relay"\nregion = "430582"\n', "role must be one of sync, serve (got 'relay')"),
        ('[process.a]\nrole = "sync"\n', "names no node: give a region or nodes"),
        ('[process.a]\nrole = "sync"\nregion = "999999"\n', "[process.a]: region:"),
        ('[process.a]\nrole = "sync"\nnodes = ["430582", 430583]\n', "nodes must be a list of division codes as strings"),
        ('[process.a]\nrole = "sync"\nregion = "430582"\nhosts = 1\n', "unknown key 'hosts'"),
        ('[process.a]\nrole = "serve"\nregion = "430582"\nport = 70000\n', "port must be a port number from 1 to 65535"),
        ('[process.a]\nrole = "sync"\nregion = "430582"\nwith_ancestors = "yes"\n', "with_ancestors must be true or false"),
        (
            '[process.a]\nrole = "sync"\nregion = "430582"\n[process.b]\nrole = "sync"\nnodes = ["430582101"]\n',
            "1 nodes are synced by two processes (430582101 in a, b)",
        ),
    ],
)
def test_each_mistake_is_said_with_where_and_which_rule(tmp_path: Path, hunan: Hierarchy, text: str, said: str) -> None:
    with pytest.raises(TopologyError) as raised:
        load_topology(write(tmp_path, text), hunan)
    assert said in str(raised.value) and str(tmp_path) in str(raised.value)


def test_a_gateway_and_a_sync_process_may_host_the_same_nodes(tmp_path: Path, hunan: Hierarchy) -> None:
    path = write(tmp_path, '[process.s]\nrole = "sync"\nregion = "430582"\n[process.g]\nrole = "serve"\nregion = "430582"\n')
    assert process_of(path, "g", hunan, "serve").region == "430582"
    with pytest.raises(TopologyError, match="has role 'serve', not 'sync'"):
        process_of(path, "g", hunan, "sync")
    with pytest.raises(TopologyError, match=r"no process 'x' \(there are: g, s\)"):
        process_of(path, "x", hunan, "sync")
    with pytest.raises(TopologyError, match="cannot read"):
        load_topology(tmp_path / "missing.toml", hunan)
