"""Parsing the text of ``/jit …`` into a subcommand and its arguments. Pure and total: never raises
anything but ``InvalidInput``, whose message says how to write it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.durations import looks_like_duration
from core.errors import InvalidInput
from core.lockout import Person

MAX_TEXT = 4000

USAGE = {
    "request": "/jit request <node>[,<node>…] [duration] [at 22:00 | at 2026-12-07 09:30] <reason> "
               "[ticket=ABC-123]",
    "list": "/jit list",
    "status": "/jit status <request id>",
    "cancel": "/jit cancel <request id>",
    "release": "/jit release <request id>",
    "revoke": "/jit revoke <request id> <reason>",
    "lockout": "/jit lockout <@user> <reason>",
    "unlock": "/jit unlock <@user> [reason]",
    "pending": "/jit pending",
    "extend": "/jit extend <request id> <duration> <reason>",
    "nodes": "/jit nodes [filter]",
    "explain": "/jit explain <node> [duration]",
    "breakglass": "/jit breakglass <node> [duration] <reason>",
    "help": "/jit help",
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
            raise InvalidInput(f"Give a time after the date: `at {words[1]} 09:30`. {usage('request')}")
        return f"{words[1]} {words[2]}", words[3:]
    return None, words


def parse(text: str) -> Parsed:
    text = (text or "").strip()
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"That command is too long ({len(text)} characters); keep it under {MAX_TEXT}.")
    if not text:
        return Parsed("help", (), "")
    name, *tail = text.split(None, 1)
    rest = tail[0] if tail else ""
    return Parsed(name.lower(), tuple(rest.split()), rest.strip())


def usage(name: str) -> str:
    return f"Usage: `{USAGE[name]}`"


def request_args(parsed: Parsed) -> RequestArgs:
    words = list(parsed.args)
    ticket = None
    for word in list(words):
        if word.lower().startswith("ticket="):
            ticket = word.split("=", 1)[1] or None
            words.remove(word)
    if not words:
        raise InvalidInput(f"Which node? {usage('request')}")
    node, rest = words[0], words[1:]
    while rest and (node.endswith(",") or rest[0].startswith(",")):  # a list written with spaces: web-1, web-2
        node, rest = node + rest[0], rest[1:]
    duration = None
    if rest and (looks_like_duration(rest[0]) or rest[0][:1].isdigit()):
        duration, rest = rest[0], rest[1:]
    start, rest = _start(rest)
    if not rest:
        raise InvalidInput(f"Please give a reason. {usage('request')}")
    return RequestArgs(node, duration, " ".join(rest), ticket, start)


def request_id(parsed: Parsed, name: str) -> str:
    if not parsed.args:
        raise InvalidInput(f"Which request? {usage(name)}")
    value = parsed.args[0].upper()
    if not (value.startswith("R") and 2 <= len(value) <= 20 and value.isalnum()):
        raise InvalidInput(f"'{parsed.args[0][:40]}' is not a request id (like R7K3Q9XAB). {usage(name)}")
    return value


#: ``<@U123>`` or ``<@U123|name>``: a mention as Slack escapes it
_MENTION = re.compile(r"^<@([UW][A-Z0-9]{2,})(?:\|[^<>]*)?>$")
_MEMBER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
#: a Slack handle or display name without spaces (what can follow ``@`` in one word)
_HANDLE = re.compile(r"^@([^\s<>@|]{1,80})$")


def person(parsed: Parsed, name: str) -> Person:
    """The person named by the first argument: a mention (``<@U…>``, ``<@U…|name>``), ``@name`` or a member id."""
    if not parsed.args:
        raise InvalidInput(f"Who? {usage(name)}")
    word = parsed.args[0]
    mention = _MENTION.match(word)
    if mention:
        return Person(user_id=mention.group(1))
    if _MEMBER_ID.match(word):
        return Person(user_id=word)
    handle = _HANDLE.match(word)
    if handle:
        return Person(handle=handle.group(1))
    raise InvalidInput(f"'{word[:40]}' is not a person: give their mention (@name) or their member id (U…). "
                       f"{usage(name)}")


def after_first(parsed: Parsed) -> str:
    """The text after the first argument (a reason), as typed."""
    parts = parsed.rest.split(None, 1)
    return parts[1].strip() if len(parts) > 1 else ""
