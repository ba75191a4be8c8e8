"""Counted words are real plural messages (issue 21): no hand-built "(s)" comes back into the catalogs, and every
plural call of the code reaches the template as a plural (Babel reads a bare ``tr`` nested in a call's values as a
new call and would silently drop the plural form)."""

from __future__ import annotations

import ast
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg

from core.i18n import ENGLISH, TP, Catalogs

ROOT = Path(__file__).resolve().parents[2]
#: as scripts/catalogs extracts them
KEYWORDS = {"tr": None, "plural": (1, 2), "T": None, "TP": (1, 2), "N_": None}


def _template() -> dict[str, str | None]:
    """msgid → plural id (None without one), extracted from the code as ``scripts/catalogs`` does (babel.cfg)."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found: dict[str, str | None] = {}
    for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT, method_map, options_map, keywords=KEYWORDS):
        if isinstance(message, tuple):
            found[message[0]] = message[1]
        else:
            found[message] = None
    return found


def _plural_calls() -> list[tuple[str, int, str, str]]:
    """Every ``tr.plural("…", "…", n)`` and ``TP("…", "…", n)`` of the extracted packages."""
    calls = []
    for package in ("core", "handlers", "bot", "aws", "store"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call) or len(node.args) < 2:
                    continue
                func = node.func
                if not ((isinstance(func, ast.Attribute) and func.attr == "plural")
                        or (isinstance(func, ast.Name) and func.id == "TP")):
                    continue
                one, many = node.args[0], node.args[1]
                if isinstance(one, ast.Constant) and isinstance(many, ast.Constant) \
                        and isinstance(one.value, str) and isinstance(many.value, str):
                    calls.append((str(path.relative_to(ROOT)), node.lineno, one.value, many.value))
    return calls


def test_no_message_hand_builds_a_plural_with_s_in_brackets() -> None:
    built = [f"{msgid} / {plural}" if plural else msgid for msgid, plural in _template().items()
             if "(s)" in msgid or (plural and "(s)" in plural)]
    assert not built, "use tr.plural(singular, plural, n) or TP(…) instead of \"(s)\":\n" + "\n".join(built)


def test_every_plural_call_reaches_the_template_as_a_plural() -> None:
    template = _template()
    calls = _plural_calls()
    assert len(calls) > 30  # the scan sees the code's plurals
    lost = [f"{path}:{line}: {one!r}" for path, line, one, many in calls if template.get(one) != many]
    assert not lost, "extracted without its plural form (compute nested tr(...) values before the call):\n" + \
        "\n".join(lost)


def test_english_chooses_the_form_by_the_count() -> None:
    assert ENGLISH.plural(" {count} session terminated.", " {count} sessions terminated.", 1) \
        == " 1 session terminated."
    assert ENGLISH.plural(" {count} session terminated.", " {count} sessions terminated.", 3) \
        == " 3 sessions terminated."
    assert str(TP("{count} request waits for your decision.", "{count} requests wait for your decision.", 2)) \
        == "2 requests wait for your decision."


def test_japanese_has_one_form_for_every_count() -> None:
    ja = Catalogs().get("ja")
    for count in (0, 1, 2, 1000):
        assert ja.plural("{count} session", "{count} sessions", count) == f"セッション {ja.number(count)} 件"
