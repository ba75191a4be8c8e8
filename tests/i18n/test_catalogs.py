"""The catalogs stay complete: every message of the code has a Japanese translation with the same placeholders,
the compiled catalog is the one the .po says, and no user-facing words in handlers/ bypass them."""

from __future__ import annotations

import ast
import gettext
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from core.i18n import DOMAIN, LOCALE_DIR, placeholders
from tests.i18n.scan import SHOWN, words

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {"tr": None, "plural": (1, 2), "T": None, "TP": (1, 2), "N_": None}
PACKAGES = ("core", "handlers", "bot", "aws", "store")
#: modules still being moved onto the catalogs (empty once every one is)
NOT_YET: set[str] = {
    "handlers/actions.py",
    "handlers/blocks.py",
    "handlers/breakglass.py",
    "handlers/breakglass_notices.py",
    "handlers/commands.py",
    "handlers/connect.py",
    "handlers/digest_blocks.py",
    "handlers/directory.py",
    "handlers/home.py",
    "handlers/later.py",
    "handlers/modals.py",
    "handlers/notices.py",
    "handlers/parsing.py",
    "handlers/policy_commands.py",
    "handlers/replies.py",
    "handlers/request_view.py",
    "handlers/revoker_commands.py",
    "handlers/sessions_text.py",
    "handlers/views.py",
}


def _in_code() -> dict[str, str | None]:
    """msgid → its plural id (None for a message without one), as ``pybabel extract`` finds them."""
    found: dict[str, str | None] = {}
    for package in PACKAGES:
        for _file, _line, message, _comments, _context in extract_from_dir(
                ROOT / package, [("**.py", "python")], keywords=KEYWORDS):
            if isinstance(message, tuple):
                found[message[0]] = message[1]
            else:
                found[message] = None
    return found


def _japanese():  # type: ignore[no-untyped-def]
    with (LOCALE_DIR / "ja" / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as po:
        return read_po(po, locale="ja")


def test_every_message_of_the_code_has_a_japanese_translation() -> None:
    catalog = _japanese()
    missing = [msgid for msgid in _in_code()
               if (m := catalog.get(msgid)) is None or m.fuzzy or not all(m.string if isinstance(m.string, tuple)
                                                                          else (m.string,))]
    assert not missing, f"{len(missing)} messages lack a Japanese translation (scripts/catalogs, then translate " \
                        f"core/locale/ja): {missing[:20]}"


def test_translations_fill_in_the_same_values_as_the_english() -> None:
    wrong = []
    for message in _japanese():
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        expected = frozenset().union(*(placeholders(i) for i in ids))
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for string in strings:
            if string and placeholders(string) - expected:
                wrong.append((ids[0], string))
            if string and not isinstance(message.id, tuple) and placeholders(string) != expected:
                wrong.append((ids[0], string))
    assert not wrong, wrong[:10]


def test_the_compiled_catalog_is_the_translated_one() -> None:
    with (LOCALE_DIR / "ja" / "LC_MESSAGES" / f"{DOMAIN}.mo").open("rb") as mo:
        compiled = gettext.GNUTranslations(mo)
    stale = []
    for message in _japanese():
        if not message.id or message.fuzzy:
            continue
        if isinstance(message.id, tuple):
            got = compiled.ngettext(message.id[0], message.id[1], 5)
            if got != message.string[0]:
                stale.append(message.id[0])
        elif compiled.gettext(message.id) != (message.string or message.id):
            stale.append(message.id)
    assert not stale, f"run `scripts/catalogs compile`: {stale[:10]}"


@pytest.mark.parametrize("path", sorted((ROOT / "handlers").glob("*.py")), ids=lambda p: p.name)
def test_no_words_in_handlers_bypass_the_catalogs(path: Path) -> None:
    if f"handlers/{path.name}" in NOT_YET:
        pytest.skip("not yet on the catalogs")
    found = list(words(path))
    assert not found, "\n".join(f"{path.name}:{line}: {text!r}" for line, text in found)


def _made_error(node: ast.AST) -> ast.Call | None:
    """The ``InvalidInput(...)`` call of ``raise InvalidInput(...)``, ``raise InvalidInput(...).at(field)`` or
    ``return Unavailable(...)``."""
    if not isinstance(node, (ast.Raise, ast.Return)):
        return None
    call = node.exc if isinstance(node, ast.Raise) else node.value
    if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "at":
        call = call.func.value
    if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in SHOWN:
        return call
    return None


def test_errors_shown_to_people_are_catalog_messages() -> None:
    """``raise InvalidInput("…")`` (or an f-string) would reach people in English whatever their language."""
    plain = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                made = _made_error(node)
                if (made is not None and made.args and isinstance(made.args[0], (ast.Constant, ast.JoinedStr))
                        and str(path.relative_to(ROOT)) not in NOT_YET):
                    plain.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not plain, plain
