"""Messages in the reader's language: gettext catalogs managed with Babel, English (the source) and Japanese.

The code is written in English. A user-facing string goes through a translator, ``tr``, where it is shown::

    tr("Request *{id}* is cancelled.", id=request.id)
    tr.plural("{count} session terminated.", "{count} sessions terminated.", n)

or, where it is raised or decided far from the reader (an error of ``core``), as a ``Text`` rendered later in
whoever's language reads it::

    raise InvalidInput(T("'{node}' is not a node id.", node=text))

Values are put in with ``str.format`` names (``{id}``): a ``timedelta`` is written as a duration of the language
("2h 30m", "2時間30分"), an ``int`` as a number of the language, a ``Text`` in the same language, anything else as
``str()``. ``N_`` marks a constant for the catalogs without translating it (it is translated where shown).

The catalogs live in ``core/locale`` (``jitbot.pot``, ``<lang>/LC_MESSAGES/jitbot.po`` and the compiled ``.mo``,
shipped in the wheel); docs/translating.md has the commands that keep them up to date.
"""

from __future__ import annotations

import gettext
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from string import Formatter
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from babel.lists import format_list
from babel.numbers import format_decimal
from babel.units import format_unit

DOMAIN = "jitbot"
#: the languages jitbot speaks; English is the source language of every message
LANGUAGES = ("en", "ja")
SOURCE = "en"
LOCALE_DIR = Path(__file__).with_name("locale")

_UNITS = (("duration-day", 86400), ("duration-hour", 3600), ("duration-minute", 60), ("duration-second", 1))
#: how each language writes a date and time (Babel patterns), the zone's abbreviation following
_DATETIME = {"en": "yyyy-MM-dd HH:mm:ss", "ja": "yyyy/MM/dd H:mm:ss"}
#: a space CLDR puts between a number and a CJK unit, or between CJK units ("2 時間 30 分"): Japanese writes none
_CJK_SPACE = re.compile(r"(?<=[0-9\u3000-\u9fff]) (?=[\u3000-\u9fff])|(?<=[\u3000-\u9fff]) (?=[0-9])")


def N_(msgid: str) -> str:
    """Mark ``msgid`` for the catalogs; it is translated where it is shown (``tr(msgid)``)."""
    return msgid


@dataclass(frozen=True)
class Text:
    """A message not yet in a language: its catalog id and values (``T(...)``); ``str()`` is the English."""

    msgid: str
    params: Mapping[str, object] = field(default_factory=dict)
    #: the plural form's id and the number choosing between them (``TP(...)``)
    plural: str | None = None
    count: int = 1

    def __str__(self) -> str:
        return ENGLISH.text(self)


def T(msgid: str, **params: object) -> Text:
    """A message to render later, in the reader's language."""
    return Text(msgid, params)


def TP(singular: str, plural: str, count: int, **params: object) -> Text:
    """A message with a plural form to render later; ``{count}`` is available to both forms."""
    return Text(singular, {"count": count, **params}, plural, count)


def language_of(locale: str | None) -> str | None:
    """The language of a Slack locale (``ja-JP`` → ``ja``, ``en-US`` → ``en``); None for one jitbot does not speak."""
    if not locale:
        return None
    language = locale.replace("_", "-").split("-")[0].lower()
    return language if language in LANGUAGES else None


class Tr:
    """A translator for one language: gettext for the words, Babel for numbers, durations, dates and lists."""

    def __init__(self, language: str, translations: gettext.NullTranslations | None = None) -> None:
        self.language = language
        self._catalog = translations if translations is not None else gettext.NullTranslations()

    def __repr__(self) -> str:
        return f"Tr({self.language!r})"

    def __call__(self, msgid: str, **params: object) -> str:
        return self._fill(self._catalog.gettext(msgid), params)

    def plural(self, singular: str, plural: str, count: int, **params: object) -> str:
        """The form for ``count`` (the language's plural rule); ``{count}`` is the number in the language."""
        return self._fill(self._catalog.ngettext(singular, plural, count), {"count": count, **params})

    def text(self, message: Text | str) -> str:
        """A ``Text`` in this language; a plain ``str`` (already words, or not words at all) as it is."""
        if isinstance(message, str):
            return message
        if message.plural is not None:
            return self._fill(self._catalog.ngettext(message.msgid, message.plural, message.count), message.params)
        return self._fill(self._catalog.gettext(message.msgid), message.params)

    def _fill(self, template: str, params: Mapping[str, object]) -> str:
        """Every message is a ``str.format`` template (a literal brace is written twice), values or not."""
        return template.format_map({name: self.value(value) for name, value in params.items()})

    def value(self, value: object) -> str:
        if isinstance(value, Text):
            return self.text(value)
        if isinstance(value, timedelta):
            return self.duration(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return self.number(value)
        return str(value)

    # -- numbers, durations, dates, lists -----------------------------------------------------------------
    def number(self, value: int | float) -> str:
        return _number(value, self.language)

    def duration(self, value: timedelta) -> str:
        """``2h 30m`` / ``2時間30分``: each non-zero unit from days to seconds; zero or less is ``0s`` / ``0秒``."""
        return _duration(max(0, int(value.total_seconds())), self.language)

    def when(self, moment: datetime | None, zone: ZoneInfo) -> str:
        """A moment in the policy's time zone, written the language's way, with the zone's abbreviation."""
        if moment is None:
            return "-"
        local = moment.astimezone(zone)
        pattern = _DATETIME.get(self.language, _DATETIME[SOURCE])
        return f"{format_datetime(local, pattern, tzinfo=zone, locale=self.language)} {local.strftime('%Z')}"

    def join(self, items: list[str]) -> str:
        """``a, b, and c`` / ``a、b、c``."""
        return self._tight(format_list(items, locale=self.language)) if items else ""

    def _tight(self, text: str) -> str:
        return _tight(text, self.language)


def _tight(text: str, language: str) -> str:
    return _CJK_SPACE.sub("", text) if language == "ja" else text


# Numbers and durations are written by Babel, tens of microseconds each, and the same few (levels, counts, the
# durations of the policies) recur in every message: each is written once per language and kept.
@lru_cache(maxsize=1024, typed=True)
def _number(value: int | float, language: str) -> str:
    return format_decimal(value, locale=language)


@lru_cache(maxsize=1024)
def _duration(total: int, language: str) -> str:
    """``total`` seconds (not negative) as ``Tr.duration`` writes them."""
    parts = []
    for unit, size in _UNITS:
        count, total = divmod(total, size)
        if count:
            parts.append(_unit(count, unit, language))
    if not parts:
        parts.append(_unit(0, "duration-second", language))
    return _tight(format_list(parts, style="unit-narrow", locale=language), language)


def _unit(count: int, unit: str, language: str) -> str:
    if language == SOURCE:
        return str(format_unit(count, unit, length="narrow", locale=language))
    return str(format_unit(count, unit, length="long", locale=language))


#: English, the source language: the ids are the words, no catalog is needed (and none is read)
ENGLISH = Tr(SOURCE)


class Catalogs:
    """The compiled catalogs, each read once, on first use (never at import)."""

    def __init__(self, directory: Path = LOCALE_DIR) -> None:
        self.directory = directory
        self._loaded: dict[str, Tr] = {SOURCE: ENGLISH}
        self._lock = threading.Lock()

    def get(self, language: str | None) -> Tr:
        """The translator of ``language``; English for a language jitbot does not speak."""
        wanted = language if language in LANGUAGES else SOURCE
        with self._lock:
            found = self._loaded.get(wanted)
            if found is None:
                translations = gettext.translation(DOMAIN, self.directory, languages=[wanted])
                found = self._loaded[wanted] = Tr(wanted, translations)
            return found


def placeholders(template: str) -> frozenset[str]:
    """The ``{names}`` a message fills in (for the catalogs' consistency checks)."""
    return frozenset(name for _, name, _, _ in Formatter().parse(template) if name)
