"""Every string rights protection shows is in its catalogues, translated into Chinese, placeholders intact."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [*sorted((ROOT / "rights").glob("*.py")), ROOT / "bot/routers/rights.py", ROOT / "bot/routers/rights_office.py"]
PLACEHOLDER = re.compile(r"\{(\w*)\}")


def _msgids() -> set[str]:
    found: set[str] = set()
    for path in SOURCES:
        for _line, message, _comments, _context in extract_from_file(
            "python", str(path), keywords={"_": None, "N_": None}
        ):
            found.add(message if isinstance(message, str) else message[0])
    return found


def _catalog(language: str, name: str = "rights.po") -> dict[str, str]:
    with (ROOT / "locales" / language / "LC_MESSAGES" / name).open("rb") as handle:
        return {m.id: m.string for m in read_po(handle) if m.id and isinstance(m.id, str)}


class TestCatalogues:
    def test_every_string_is_translated_into_chinese_with_its_placeholders(self) -> None:
        """Each msgid of rights/ and its two routers has a Chinese translation using the same {placeholders}."""
        zh = _catalog("zh")
        ids = _msgids()
        assert len(ids) > 200
        missing = sorted(m for m in ids if not zh.get(m))
        assert missing == []
        for msgid in ids:
            assert sorted(PLACEHOLDER.findall(msgid)) == sorted(PLACEHOLDER.findall(zh[msgid])), msgid

    def test_the_english_catalogue_lists_the_same_strings(self) -> None:
        """The English catalogue has every msgid (English is the msgid itself)."""
        assert set(_catalog("en")) >= _msgids()

    def test_no_other_catalogue_translates_a_shared_msgid_differently(self) -> None:
        """All .po files of a language merge into one catalogue, so a msgid shared with another feature must
        read the same there."""
        mine = _catalog("zh")
        for other in sorted((ROOT / "locales/zh/LC_MESSAGES").glob("*.po")):
            if other.name == "rights.po":
                continue
            theirs = _catalog("zh", other.name)
            clashes = {m: (mine[m], theirs[m]) for m in mine if m in theirs and theirs[m] and theirs[m] != mine[m]}
            assert clashes == {}, other.name
