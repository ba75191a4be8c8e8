"""Pieces of messages core builds for people: a series of values (``a, b, c``) rendered in the reader's
language, whatever the values are (names, durations, ``Text``)."""

from __future__ import annotations

from collections.abc import Sequence

from core.i18n import T, Text


def series(items: Sequence[object], empty: Text | None = None) -> Text:
    """``a, b, c`` (``a、b、c`` in Japanese); ``empty`` (or nothing) when there are no items."""
    if not items:
        return empty if empty is not None else T("{item}", item="")
    out = T("{item}", item=items[0])
    for item in items[1:]:
        out = T("{items}, {item}", items=out, item=item)
    return out


def said(err: Exception) -> Text | str:
    """What an error of core's own says to people (its ``message``: a ``Text`` for ``JitError``, ``DurationError``),
    to raise again as a ``JitError``; its ``str()`` for an error without one."""
    message = getattr(err, "message", None)
    return message if isinstance(message, Text | str) else str(err)
