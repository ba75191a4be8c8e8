"""Parsing the text of ``/jit …`` into a subcommand and its arguments. Pure and total: never raises
anything but ``InvalidInput``, whose message says how to write it."""

from __future__ import annotations

from dataclasses import dataclass

from core.durations import looks_like_duration
from core.errors import InvalidInput

MAX_TEXT = 4000

USAGE = {
    "request": "/jit request <node> [duration] <reason> [ticket=ABC-123]",
    "list": "/jit list",
    "status": "/jit status <request id>",
    "cancel": "/jit cancel <request id>",
    "release": "/jit release <request id>",
    "revoke": "/jit revoke <request id> <reason>",
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
    node: str
    duration: str | None
    reason: str
    ticket: str | None


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
    duration = None
    if rest and (looks_like_duration(rest[0]) or rest[0][:1].isdigit()):
        duration, rest = rest[0], rest[1:]
    if not rest:
        raise InvalidInput(f"Please give a reason. {usage('request')}")
    return RequestArgs(node, duration, " ".join(rest), ticket)


def request_id(parsed: Parsed, name: str) -> str:
    if not parsed.args:
        raise InvalidInput(f"Which request? {usage(name)}")
    value = parsed.args[0].upper()
    if not (value.startswith("R") and 2 <= len(value) <= 20 and value.isalnum()):
        raise InvalidInput(f"'{parsed.args[0][:40]}' is not a request id (like R7K3Q9XAB). {usage(name)}")
    return value
