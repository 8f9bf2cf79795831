"""Translations: one gettext catalogue per language under ``locales/``, English msgids.

The bot uses these catalogues through aiogram's i18n; domain code that renders text outside
aiogram (reminder pushes, for example) uses :func:`gettext_for`.
"""

from __future__ import annotations

import gettext
import logging
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "messages"
LANGUAGES = ("zh", "en")

log = logging.getLogger(__name__)


def compile_catalogues(locales_dir: Path = LOCALES_DIR) -> list[Path]:
    """Compiles each language's catalogues into one messages.mo when it is missing or older.

    A language's strings live in several .po files side by side (``messages.po`` for the bot's
    own, one more per feature: ``rights.po``, ``tasks.po`` ...), so that features are translated
    on their own; all of them go into the one ``messages`` domain aiogram and gettext read.
    """
    written: list[Path] = []
    for folder in sorted(locales_dir.glob("*/LC_MESSAGES")):
        sources = sorted(folder.glob("*.po"), key=lambda p: (p.name != f"{DOMAIN}.po", p.name))
        if not sources:
            continue
        mo_path = folder / f"{DOMAIN}.mo"
        newest = max(p.stat().st_mtime for p in sources)
        if mo_path.exists() and mo_path.stat().st_mtime >= newest:
            continue
        locale = folder.parent.name
        merged: Catalog | None = None
        for po_path in sources:
            with po_path.open("rb") as handle:
                catalog = read_po(handle, locale=locale, domain=DOMAIN)
            if merged is None:
                merged = catalog
                continue
            for message in catalog:
                if message.id:
                    merged[message.id] = message
        assert merged is not None  # sources is not empty
        # Catalogues are appended to by several people; the last entry for a msgid wins.
        with mo_path.open("wb") as handle:
            write_mo(handle, merged, use_fuzzy=False)
        written.append(mo_path)
    gettext_for.cache_clear()
    return written


@lru_cache(maxsize=8)
def gettext_for(language: str) -> Callable[[str], str]:
    """Returns a gettext function for a language (unknown languages read English msgids)."""
    try:
        translation = gettext.translation(DOMAIN, localedir=str(LOCALES_DIR), languages=[language])
    except OSError:
        if language != "en":
            log.warning("no compiled catalogue for %s; showing English", language)
        return lambda message: message
    return translation.gettext
