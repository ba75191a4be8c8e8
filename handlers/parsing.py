"""Parsing the text of ``/jit …`` into a subcommand and its arguments. Pure and total: never raises
anything but ``InvalidInput``, whose message (a ``Text``, in the reader's language) says how to write it.

The usage lines are syntax, shown as they are in every language (commands and their arguments are typed so)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.durations import looks_like_duration
from core.errors import InvalidInput
from core.i18n import T, Text
from core.lockout import Person

MAX_TEXT = 4000

#: how each subcommand is written: syntax, shown as it is typed in every language
USAGE = {
    "request": ("/jit request <node>[,<node>…] [duration] [at 22:00 | at 2026-12-07 09:30] <reason> "  # not words
                "[ticket=ABC-123]"),  # not words
    "list": "/jit list",  # not words
    "status": "/jit status <request id>",  # not words
    "cancel": "/jit cancel <request id>",  # not words
    "release": "/jit release <request id>",  # not words
    "revoke": "/jit revoke <request id> <reason>",  # not words
    "lockout": "/jit lockout <@user> <reason>",  # not words
    "unlock": "/jit unlock <@user> [reason]",  # not words
    "pending": "/jit pending",  # not words
    "extend": "/jit extend <request id> <duration> <reason>",  # not words
    "nodes": "/jit nodes [filter]",  # not words
    "explain": "/jit explain <node>[,<node>…] [duration]",  # not words
    "breakglass": "/jit breakglass <node> [duration] <reason>",  # not words
    "help": "/jit help",  # not words
}


@dataclass(frozen=True)
class Parsed:
    name: str
    args: tuple[str, ...]
    rest: str


@dataclass(frozen=True)
class RequestArgs:
    #: one node, a list (``web-1,web-2``) or a tag selector (``tag:Role=web``), as typed (core.selection)
    node: str
    duration: str | None
    reason: str
    ticket: str | None
    #: scheduled access: the start as typed after ``at`` (``22:00``, ``2026-12-07 09:30``); core.schedule reads it
    start: str | None = None


#: what may follow ``at``: a time of day, or a date then a time (anything else is the reason: "at risk")
_CLOCK = re.compile(r"^\d{1,2}:\d{2}$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _start(words: list[str]) -> tuple[str | None, list[str]]:
    """``at <time>`` or ``at <date> <time>`` at the head of ``words``, and the words after it."""
    if len(words) < 2 or words[0].lower() != "at":
        return None, words
    if _CLOCK.match(words[1]):
        return words[1], words[2:]
    if _DAY.match(words[1]):
        if len(words) < 3 or not _CLOCK.match(words[2]):
            raise InvalidInput(T("Give a time after the date: `at {day} 09:30`. {usage}", day=words[1],
                                 usage=usage("request")))
        return f"{words[1]} {words[2]}", words[3:]
    return None, words


def parse(text: str) -> Parsed:
    text = (text or "").strip()
    if len(text) > MAX_TEXT:
        raise InvalidInput(T("That command is too long ({length} characters); keep it under {limit}.",
                             length=str(len(text)), limit=str(MAX_TEXT)))
    if not text:
        return Parsed("help", (), "")
    name, *tail = text.split(None, 1)
    rest = tail[0] if tail else ""
    return Parsed(name.lower(), tuple(rest.split()), rest.strip())


def usage(name: str) -> Text:
    """How to write ``/jit <name>``: ``Usage: `/jit status <request id>```."""
    return T("Usage: `{command}`", command=USAGE[name])


def request_args(parsed: Parsed) -> RequestArgs:
    words = list(parsed.args)
    ticket = None
    for word in list(words):
        if word.lower().startswith("ticket="):
            ticket = word.split("=", 1)[1] or None
            words.remove(word)
    if not words:
        raise InvalidInput(T("Which node? {usage}", usage=usage("request")))
    node, rest = words[0], words[1:]
    while rest and (node.endswith(",") or rest[0].startswith(",")):  # a list written with spaces: web-1, web-2
        node, rest = node + rest[0], rest[1:]
    duration = None
    if rest and (looks_like_duration(rest[0]) or rest[0][:1].isdigit()):
        duration, rest = rest[0], rest[1:]
    start, rest = _start(rest)
    if not rest:
        raise InvalidInput(T("Please give a reason. {usage}", usage=usage("request")))
    return RequestArgs(node, duration, " ".join(rest), ticket, start)


def request_id(parsed: Parsed, name: str) -> str:
    if not parsed.args:
        raise InvalidInput(T("Which request? {usage}", usage=usage(name)))
    value = parsed.args[0].upper()
    if not (value.startswith("R") and 2 <= len(value) <= 20 and value.isalnum()):
        raise InvalidInput(T("'{text}' is not a request id (like R7K3Q9XAB). {usage}", text=parsed.args[0][:40],
                             usage=usage(name)))
    return value


#: ``<@U123>`` or ``<@U123|name>``: a mention as Slack escapes it
_MENTION = re.compile(r"^<@([UW][A-Z0-9]{2,})(?:\|[^<>]*)?>$")
_MEMBER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
#: a Slack handle or display name without spaces (what can follow ``@`` in one word)
_HANDLE = re.compile(r"^@([^\s<>@|]{1,80})$")


def person(parsed: Parsed, name: str) -> Person:
    """The person named by the first argument: a mention (``<@U…>``, ``<@U…|name>``), ``@name`` or a member id."""
    if not parsed.args:
        raise InvalidInput(T("Who? {usage}", usage=usage(name)))
    word = parsed.args[0]
    mention = _MENTION.match(word)
    if mention:
        return Person(user_id=mention.group(1))
    if _MEMBER_ID.match(word):
        return Person(user_id=word)
    handle = _HANDLE.match(word)
    if handle:
        return Person(handle=handle.group(1))
    raise InvalidInput(T("'{text}' is not a person: give their mention (@name) or their member id (U…). {usage}",
                         text=word[:40], usage=usage(name)))


def after_first(parsed: Parsed) -> str:
    """The text after the first argument (a reason), as typed."""
    parts = parsed.rest.split(None, 1)
    return parts[1].strip() if len(parts) > 1 else ""
