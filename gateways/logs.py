"""structlog set-up for every entry point: JSON lines for machines, readable lines on a terminal."""

from __future__ import annotations

import logging
import os
import sys

import structlog


def configure_logging(*, json: bool | None = None, level: str | None = None) -> None:
    """``YIPANQI_LOG_JSON=1`` forces JSON; ``YIPANQI_LOG_LEVEL`` sets the level (default INFO)."""
    if json is None:
        json = os.environ.get("YIPANQI_LOG_JSON", "") == "1" or not sys.stderr.isatty()
    name = (level or os.environ.get("YIPANQI_LOG_LEVEL") or "INFO").upper()
    renderer = structlog.processors.JSONRenderer(ensure_ascii=False) if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, name, logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
