"""The language of the ``jitbot`` command line: ``--lang en|ja``; else the policy file's ``[settings] language``
when it names one (``en`` or ``ja``, not ``auto``); else the environment's (``LC_ALL``, ``LC_MESSAGES``, ``LANG``,
the first one set) when it is Japanese; else English."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

from core.errors import JitError
from core.i18n import LANGUAGES, Catalogs, Text, Tr, language_of
from core.policy import PolicyError

#: the variables that name the terminal's language, strongest first (as gettext reads them)
ENVIRONMENT = ("LC_ALL", "LC_MESSAGES", "LANG")


def file_language(path: str | Path | None) -> str | None:
    """``[settings] language`` of the policy file when it is ``en`` or ``ja``; None when it says ``auto``, says
    nothing, or the file cannot be read (the command itself reports a broken file, in the language chosen)."""
    if path is None:
        return None
    try:
        with Path(path).open("rb") as file:
            settings = tomllib.load(file).get("settings")
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None
    language = settings.get("language") if isinstance(settings, dict) else None
    return language if language in LANGUAGES else None


def environment_language(environ: Mapping[str, str]) -> str | None:
    """``ja`` when the first of ``LC_ALL``, ``LC_MESSAGES``, ``LANG`` that is set names Japanese (``ja_JP.UTF-8``)."""
    for name in ENVIRONMENT:
        value = environ.get(name)
        if value:
            return "ja" if language_of(value.split(".")[0]) == "ja" else None
    return None


def cli_language(flag: str | None, policies: str | Path | None, environ: Mapping[str, str] | None = None) -> str:
    """The language the command line speaks: ``--lang``, the policy file's, the environment's, English."""
    if flag in LANGUAGES:
        return flag
    return file_language(policies) or environment_language(os.environ if environ is None else environ) or "en"


def cli_tr(flag: str | None, policies: str | Path | None, environ: Mapping[str, str] | None = None) -> Tr:
    return Catalogs().get(cli_language(flag, policies, environ))


def policy_error(err: PolicyError, tr: Tr) -> str:
    """A policy file that does not load: the count in the CLI's language; the located errors as they are (they
    quote the file's keys)."""
    return "\n".join([tr.plural("{source}: {count} error", "{source}: {count} errors", len(err.errors),
                                source=err.source),
                      *(f"  {e}" for e in err.errors)])


def say(err: BaseException, tr: Tr) -> str:
    """An error for people in ``tr``'s language: a ``JitError``'s or any error's ``Text`` message, a policy file's
    errors (``policy_error``); other errors as they are."""
    if isinstance(err, PolicyError):
        return policy_error(err, tr)
    if isinstance(err, JitError):
        return err.say(tr)
    message = err.args[0] if len(err.args) == 1 else None
    return tr.text(message) if isinstance(message, Text) else str(err)
