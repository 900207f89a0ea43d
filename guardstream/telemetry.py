"""Logging set-up for entry points (libraries only call ``logging.getLogger(__name__)``)."""

from __future__ import annotations

import logging
import sys

from rich.logging import RichHandler


def configure_logging(level: str = "INFO") -> None:
    """Key=value log lines on stderr: through rich on a terminal, plain lines into a log file."""
    handler: logging.Handler
    if sys.stderr.isatty():
        handler = RichHandler(show_path=False, rich_tracebacks=True)
        handler.setFormatter(logging.Formatter("%(name)s %(message)s", datefmt="%H:%M:%S"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
