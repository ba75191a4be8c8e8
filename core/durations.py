"""Durations as written by people (``90s``, ``1h30m``, ``PT4H``, ``2時間30分``) and the compact form for values and
logs; the backoff between retries. What people read is written by ``core.i18n.Tr`` ("2h 30m", "2時間30分")."""

from __future__ import annotations

import re
from datetime import timedelta

from core.i18n import T, Text, Tr

MIN_DURATION = timedelta(seconds=1)
MAX_DURATION = timedelta(days=30)
#: the longest wait between two attempts of a retried step (AWS calls, owed messages)
MAX_BACKOFF = timedelta(minutes=5)

_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_COMPACT = re.compile(r"^(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?$")
_ISO = re.compile(r"^P(?:([0-9]+)D)?(?:T(?:([0-9]+)H)?(?:([0-9]+)M)?(?:([0-9]+)S)?)?$")
#: Japanese: ``1日``, ``2時間``, ``30分``, ``90秒`` in that order (``日間``, ``分間``, ``秒間`` too);
#: ``2時間半`` is 2h30m
_JAPANESE = re.compile(r"^(?:([0-9]+)日間?)?(?:([0-9]+)時間(半)?)?(?:([0-9]+)分間?)?(?:([0-9]+)秒間?)?$")
#: full-width ASCII (``２時間``, ``ＰＴ４Ｈ``) read as the ASCII it stands for
_FULL_WIDTH = str.maketrans({chr(code): chr(code - 0xFEE0) for code in range(0xFF01, 0xFF5F)})


class DurationError(ValueError):
    """A duration that cannot be understood or is out of range. ``message`` is for people (a ``Text``, rendered in
    the reader's language by ``say``); ``str()`` is the English (policy file validation shows it)."""

    def __init__(self, message: Text) -> None:
        super().__init__(str(message))
        self.message = message

    def say(self, tr: Tr) -> str:
        return tr.text(self.message)


def _parts(raw: str) -> tuple[int, int, int, int] | None:
    """Days, hours, minutes and seconds as written in ``raw`` (one of the accepted forms), or None."""
    text = raw.translate(_FULL_WIDTH)
    if text.upper().startswith("P"):
        match = None if text.upper().endswith("T") else _ISO.match(text.upper())
    elif japanese := _JAPANESE.match(text):
        days, hours, half, minutes, seconds = japanese.groups()
        if not any((days, hours, minutes, seconds)) or (half and minutes):
            return None
        return int(days or 0), int(hours or 0), int(minutes or 0) + (30 if half else 0), int(seconds or 0)
    else:
        match = _COMPACT.match(text.lower())
    if match is None or not any(match.groups()):
        return None
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return days, hours, minutes, seconds


def parse_duration(text: str, *, allow_zero: bool = False) -> timedelta:
    """Parse ``90s``, ``15m``, ``4h``, ``1d``, ``1h30m``, ISO-8601 ``PT4H`` / ``P1DT2H``, or Japanese ``2時間``,
    ``30分``, ``1日``, ``90秒``, ``2時間30分`` (full-width digits too: ``２時間``).

    The result is between 1 second and 30 days (or exactly zero when ``allow_zero`` and the text is ``0``).
    """
    raw = text.strip()
    if allow_zero and raw.translate(_FULL_WIDTH) == "0":
        return timedelta(0)
    if len(raw) > 32:
        raise DurationError(T("'{text}' is not a duration (use e.g. 90s, 15m, 4h, 1d, 1h30m or PT4H)",
                              text=raw[:32] + "…"))
    parts = _parts(raw)
    if parts is None:
        raise DurationError(T("'{text}' is not a duration (use e.g. 90s, 15m, 4h, 1d, 1h30m or PT4H)", text=raw))
    days, hours, minutes, seconds = parts
    total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds  # plain ints: no overflow on huge numbers
    value = timedelta(seconds=total) if total <= MAX_DURATION.total_seconds() else None
    if value is None:
        raise DurationError(T("'{text}' is longer than the maximum of {maximum}", text=raw, maximum=MAX_DURATION))
    if value < MIN_DURATION:
        raise DurationError(T("'{text}' is shorter than the minimum of {minimum}", text=raw, minimum=MIN_DURATION))
    return value


def looks_like_duration(text: str) -> bool:
    """True when ``text`` parses as a duration (to tell ``/jit request web-1 2h …`` / ``… 2時間 …`` from a reason)."""
    try:
        parse_duration(text)
    except DurationError:
        return False
    return True


def format_duration(value: timedelta) -> str:
    """A duration compactly, as a value (audit events, form options, logs): ``1h30m``, ``2d``, ``45s``; zero or
    negative is ``0s``. Text people read puts the ``timedelta`` in a message instead (``core.i18n``)."""
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
