"""Logging set-up: one line per record, UTC timestamps, no personal data by convention."""

from __future__ import annotations

import logging
import sys
import time


def setup_logging(level: str, process: str) -> None:
    """Configure the root logger for a process."""
    formatter = logging.Formatter(
        fmt=f"%(asctime)s.%(msecs)03dZ %(levelname)s {process} %(name)s: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
    )
    formatter.converter = time.gmtime
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiokafka logs every transient connection error at ERROR; ours say what matters.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL if level.upper() != "DEBUG" else logging.DEBUG)
