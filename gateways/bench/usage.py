"""What benchmarks read of the processes they run and the broker they use: memory, CPU, which broker it is."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient

from gateways.bench.services import PROJECT_ROOT
from sync.brokers import broker_reachable


def status_mb(pid: int, key: str) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


def cpu_s(proc: subprocess.Popen[bytes] | int | None) -> float:
    """User + system CPU seconds of a live process (its threads included)."""
    if proc is None:
        return 0.0
    pid = proc if isinstance(proc, int) else proc.pid
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError):
        return (0.0, 0.0)
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (float(sum(fields) - idle), float(sum(fields)))


def describe_broker(bootstrap: str, *, started: bool) -> dict[str, Any]:
    info: dict[str, Any] = {"bootstrap": bootstrap}
    if not started and not broker_reachable(bootstrap, timeout=10):
        raise RuntimeError(f"no Kafka broker answers at {bootstrap} (start one: `bash deploy/kafka.sh start`)")
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30_000)
    try:
        cluster = str(admin.describe_cluster().get("cluster_id"))
    finally:
        admin.close()
    info["cluster_id"] = cluster
    if cluster.startswith("tansu"):
        info["kind"] = "embedded tansu (started by the benchmark)" if started else "tansu"
        return info
    info["kind"] = "kafka"
    pid = listener_pid(bootstrap)
    if pid:
        info["pid"] = pid  # a broker on this machine: its CPU and memory are reported too
    port = bootstrap.rsplit(":", 1)[-1]
    jars = sorted((PROJECT_ROOT / ".run" / "kafka" / "libs").glob("kafka_2.13-*.jar"))
    if jars and port == os.environ.get("YIPANQI_KAFKA_PORT", "19092"):
        match = re.search(r"kafka_2\.13-(.+)\.jar$", jars[-1].name)
        info["kind"] = f"Apache Kafka {match.group(1) if match else ''} (deploy/kafka.sh)".replace("  ", " ")
    return info


def listener_pid(bootstrap: str) -> int | None:
    """The pid of the local process listening on the bootstrap port (a broker on this machine), if any."""
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    if host not in ("127.0.0.1", "localhost", "::1", "[::1]"):
        return None
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == int(port):
                    inodes.add(f"socket:[{fields[9]}]")
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (proc / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in inodes:
                        return int(proc.name)
    return None


def delete_topics(bootstrap: str, prefix: str) -> None:
    """Leave an external broker as we found it."""
    with contextlib.suppress(Exception):
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30_000)
        try:
            mine = [t for t in admin.list_topics() if t.startswith(prefix + ".")]
            if mine:
                admin.delete_topics(mine)
        finally:
            admin.close()
