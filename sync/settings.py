"""Sync configuration from the environment (prefix ``YIPANQI_``), with defaults justified by ``bench sync``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SyncSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YIPANQI_", env_file="yipanqi.env", extra="ignore")

    kafka: str = Field(default="", description="bootstrap address; empty: start the embedded broker (demo only)")
    topic_prefix: str = Field(default="yipanqi", pattern=r"^[A-Za-z0-9._-]+$")
    # lz4 (measured, see sync/TUNING.md): 5x fewer bytes on the wire and on the broker for about the same CPU as
    # none; gzip doubles the producer's CPU for little more. "lz4" needs the `lz4` package (a dependency).
    compression: Literal["none", "gzip", "lz4", "zstd"] = "lz4"
    linger_ms: int = Field(default=5, ge=0, le=1000)
    batch_bytes: int = Field(default=512 * 1024, ge=16 * 1024)
    relay_batch: int = Field(default=10_000, ge=1, description="events read from the log per relay round")
    # Events per Kafka message (a frame), and a cap on a frame's stored bytes (uncompressed, well under the broker's
    # 1 MiB message limit): kafka-python's per-message cost is paid once per frame at each hop. Measured (TUNING.md):
    # 20 costs ~25% more CPU per event than 50; 50, 100 and 200 are within noise of each other; 100 sits on the flat.
    frame_events: int = Field(default=100, ge=1, le=65_535)
    frame_bytes: int = Field(default=256 * 1024, ge=1024, le=768 * 1024)
    heartbeat_s: float = Field(default=30.0, gt=0, description="a node's beat goes up at least this often (liveness)")
    report_s: float = Field(default=5.0, gt=0, description="a changed beat (head, health) goes up at most this often")
    silent_s: float = Field(default=100.0, gt=0, description="a child not heard for this long is silent")
    stall_s: float = Field(default=20.0, gt=0, description="a stream behind and not moving for this long is stalled")
    status_s: float = Field(default=5.0, gt=0, description="streams' states are kept in the database this often")
    republish_s: float = Field(default=2.0, gt=0, description="a halted ingest repeats its republish request this often")
    poll_ms: int = Field(default=100, ge=1, description="longest wait for messages while anything moved recently")
    idle_poll_ms: int = Field(default=1000, ge=1, description="longest wait for messages once everything is caught up")
    fetch_wait_ms: int = Field(default=500, ge=1, description="longest a fetch waits at the broker for 64 KiB, busy")
    idle_fetch_wait_ms: int = Field(
        default=2000, ge=1, description="longest a fetch waits at the broker for 64 KiB once everything is caught up"
    )
    check_s: float = Field(default=1.0, gt=0, description="an idle relay looks for events written by other processes this often")
    seal_s: float = Field(
        default=60.0, gt=0, description="each node's chain is sealed (a signed checkpoint) this often, if it moved"
    )
    replication: int = Field(default=1, ge=1, description="replication factor of the topics this process creates")


class TopicPlan:
    """One single-partition topic per node and direction: order is per stream, and streams never share a partition.

    ``up.<node>``: the node's whole log (own and replicated events) for its parent, retained; ``beat.<node>``: the
    node's heartbeat (its published position, its log's head, its subtree's sync health), compacted to the latest;
    ``down.<node>``: the replicas its parent sends it, compacted to the latest per aggregate; ``control.<node>``:
    requests to the node's relays (re-publish from a position).
    """

    def __init__(self, prefix: str = "yipanqi") -> None:
        self.prefix = prefix

    def up(self, node_id: object) -> str:
        return f"{self.prefix}.up.{node_id}"

    def beat(self, node_id: object) -> str:
        return f"{self.prefix}.beat.{node_id}"

    def down(self, node_id: object) -> str:
        return f"{self.prefix}.down.{node_id}"

    def control(self, node_id: object) -> str:
        return f"{self.prefix}.control.{node_id}"
