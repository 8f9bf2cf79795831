"""Catalogues: each feature's .po file is compiled into the one messages domain."""

from __future__ import annotations

import gettext
import os
from pathlib import Path

from core.i18n import compile_catalogues

HEADER = 'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n'


def _po(path: Path, entries: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "".join(f'\nmsgid "{k}"\nmsgstr "{v}"\n' for k, v in entries.items())
    path.write_text(HEADER + body, encoding="utf-8")


class TestCompileCatalogues:
    def test_merges_every_po_file_of_a_language(self, tmp_path: Path) -> None:
        """messages.po and a feature's tasks.po both end up in messages.mo."""
        folder = tmp_path / "zh" / "LC_MESSAGES"
        _po(folder / "messages.po", {"Help": "帮助"})
        _po(folder / "tasks.po", {"My tasks": "我的任务"})
        assert compile_catalogues(tmp_path) == [folder / "messages.mo"]
        zh = gettext.translation("messages", localedir=str(tmp_path), languages=["zh"])
        assert (zh.gettext("Help"), zh.gettext("My tasks")) == ("帮助", "我的任务")

    def test_recompiles_when_any_part_changes(self, tmp_path: Path) -> None:
        """A newer feature file makes the compiled catalogue stale; an unchanged set is left alone."""
        folder = tmp_path / "zh" / "LC_MESSAGES"
        _po(folder / "messages.po", {"Help": "帮助"})
        compile_catalogues(tmp_path)
        assert compile_catalogues(tmp_path) == []
        _po(folder / "rights.po", {"Rights office": "维权受理"})
        mo = folder / "messages.mo"
        os.utime(mo, (1, 1))
        assert compile_catalogues(tmp_path) == [mo]
        zh = gettext.translation("messages", localedir=str(tmp_path), languages=["zh"])
        assert zh.gettext("Rights office") == "维权受理"
