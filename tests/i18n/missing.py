"""``python -m tests.i18n.missing FILE…``: the messages of these files that the Japanese catalog lacks, as .po
entries to translate and append to core/locale/ja/LC_MESSAGES/jitbot.po (then ``scripts/catalogs compile``)."""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

from core.i18n import DOMAIN, LOCALE_DIR

KEYWORDS = {"tr": None, "plural": (1, 2), "T": None, "TP": (1, 2), "N_": None}


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


def main(paths: list[str]) -> int:
    with (LOCALE_DIR / "ja" / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as po:
        catalog = read_po(po, locale="ja")
    seen: set[str] = set()
    for name in paths:
        for _line, message, _comments, _context in extract_from_file("python", Path(name), keywords=KEYWORDS):
            ids = message if isinstance(message, tuple) else (message,)
            known = catalog.get(ids[0])
            strings = () if known is None else known.string if isinstance(known.string, tuple) else (known.string,)
            if ids[0] in seen or (strings and all(strings) and not known.fuzzy):
                continue
            seen.add(ids[0])
            print(f"\n#, python-brace-format\nmsgid {_quote(ids[0])}")
            if len(ids) > 1:
                print(f"msgid_plural {_quote(ids[1])}\nmsgstr[0] \"\"")
            else:
                print('msgstr ""')
    return 1 if seen else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
