"""Logging: readable text or one JSON object per line, with the ``extra`` fields kept.

Every record is exactly one line: control characters (CR, LF, tab, ANSI escapes, every other C0 and C1 code,
DEL, and the Unicode line and paragraph separators) are written as escapes, whoever put them in the message,
an extra field or an exception, so no input can forge a line or recolour a terminal."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
SECRET_MARKERS = ("xoxb-", "xoxp-", "xapp-", "xoxe")


def _escape_table() -> dict[int, str]:
    table = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
    table.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t", 0x2028: "\\u2028", 0x2029: "\\u2029"})
    return table


_ESCAPES = _escape_table()


def one_line(text: str) -> str:
    """``text`` with every control character escaped (``\\n``, ``\\x1b`` …): it stays one line, inert."""
    return text.translate(_ESCAPES)


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


def redact(text: str) -> str:
    """Never let a Slack token reach a log line."""
    for marker in SECRET_MARKERS:
        while marker in text:
            start = text.index(marker)
            end = start
            while end < len(text) and (text[end].isalnum() or text[end] == "-"):
                end += 1
            text = text[:start] + "[redacted]" + text[end:]
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            **_extras(record),
        }
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(payload, default=str, ensure_ascii=True))  # escapes all control characters


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        extras = _extras(record)
        if extras:
            base += " " + " ".join(f"{k}={v}" for k, v in extras.items())
        return redact(one_line(base))


def configure(level: str = "INFO", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else
                         TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("apscheduler", "waitress", "botocore", "urllib3", "werkzeug"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
