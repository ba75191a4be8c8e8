"""Durations as written by people (``90s``, ``1h30m``, ``PT4H``) and as shown back to them; the backoff between
retries."""

from __future__ import annotations

import re
from datetime import timedelta

MIN_DURATION = timedelta(seconds=1)
MAX_DURATION = timedelta(days=30)
#: the longest wait between two attempts of a retried step (AWS calls, owed messages)
MAX_BACKOFF = timedelta(minutes=5)

_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_COMPACT = re.compile(r"^(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?$")
_ISO = re.compile(r"^P(?:([0-9]+)D)?(?:T(?:([0-9]+)H)?(?:([0-9]+)M)?(?:([0-9]+)S)?)?$")


class DurationError(ValueError):
    """A duration that cannot be understood or is out of range; the message is for people."""


def parse_duration(text: str, *, allow_zero: bool = False) -> timedelta:
    """Parse ``90s``, ``15m``, ``4h``, ``1d``, ``1h30m`` or ISO-8601 ``PT4H`` / ``P1DT2H``.

    The result is between 1 second and 30 days (or exactly zero when ``allow_zero`` and the text is ``0``).
    """
    raw = text.strip()
    if allow_zero and raw == "0":
        return timedelta(0)
    if len(raw) > 32:
        raise DurationError(f"'{raw[:32]}…' is not a duration (use e.g. 90s, 15m, 4h, 1d, 1h30m or PT4H)")
    upper = raw.upper()
    if upper.startswith("P"):
        match = None if upper.endswith("T") else _ISO.match(upper)
    else:
        match = _COMPACT.match(raw.lower())
    if match is None or not any(match.groups()):
        raise DurationError(f"'{raw}' is not a duration (use e.g. 90s, 15m, 4h, 1d, 1h30m or PT4H)")
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds  # plain ints: no overflow on huge numbers
    value = timedelta(seconds=total) if total <= MAX_DURATION.total_seconds() else None
    if value is None:
        raise DurationError(f"'{raw}' is longer than the maximum of {format_duration(MAX_DURATION)}")
    if value < MIN_DURATION:
        raise DurationError(f"'{raw}' is shorter than the minimum of 1s")
    return value


def looks_like_duration(text: str) -> bool:
    """True when ``text`` parses as a duration (used to tell ``/jit request web-1 2h …`` from a reason)."""
    try:
        parse_duration(text)
    except DurationError:
        return False
    return True


def format_duration(value: timedelta) -> str:
    """Render a duration compactly: ``1h30m``, ``2d``, ``45s``; zero or negative renders as ``0s``."""
    total = int(value.total_seconds())
    if total <= 0:
        return "0s"
    parts = []
    for unit, size in _UNITS.items():
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def backoff(attempts: int, base: timedelta = timedelta(seconds=2)) -> timedelta:
    """Wait before the next attempt: ``base`` × 1, 2, 4 … (2, 4, 8 … seconds by default), at most 5 minutes."""
    return min(base * (1 << min(max(attempts, 1) - 1, 20)), MAX_BACKOFF)
