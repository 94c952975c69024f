"""structlog set-up for every entry point: JSON lines for machines, readable lines on a terminal."""

from __future__ import annotations

import logging
import os
import sys

import structlog
from structlog.typing import EventDict, WrappedLogger

from domain.personal import mask


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
            structlog.processors.format_exc_info,
            mask_personal_data,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, name, logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


def mask_personal_data(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """The one masking rule (``domain.personal``) on every log line: a log is read by operators, who may not see
    personal data of the public (an error quoting a command's text, an exception with a payload)."""
    return {key: mask(value, key) for key, value in event_dict.items()}
