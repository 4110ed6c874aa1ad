"""JSON log lines with the request id, and personal numbers masked on the way out."""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from common.masking import mask_text

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# Attributes every LogRecord has; anything else was passed with ``extra=``.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "taskName",
}


_UNMASKED = frozenset({"ts", "level", "logger", "request_id"})


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(v) for v in value]
    if isinstance(value, bool | float) or value is None:
        return value
    text = str(value)
    masked = mask_text(text)
    return value if masked == text and isinstance(value, int) else masked


class MaskingFilter(logging.Filter):
    """Rewrites the message so no handler, JSON or not, prints a full ID or phone."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_text(record.getMessage())
        record.args = None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD_ATTRS and name not in entry:
                entry[name] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        # Mask every value (extras and tracebacks carry numbers too), except the request
        # id: it is ours, and a client must find it in the log exactly as it was answered.
        masked = {k: v if k in _UNMASKED else _masked(v) for k, v in entry.items()}
        return json.dumps(masked, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO", stream: Any = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(MaskingFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
