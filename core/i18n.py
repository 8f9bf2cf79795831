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

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "messages"
LANGUAGES = ("zh", "en")

log = logging.getLogger(__name__)


def compile_catalogues(locales_dir: Path = LOCALES_DIR) -> list[Path]:
    """Compiles every .po catalogue whose .mo is missing or older; returns the files written."""
    written: list[Path] = []
    for po_path in sorted(locales_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        locale = po_path.parent.parent.name
        with po_path.open("rb") as handle:
            catalog = read_po(handle, locale=locale, domain=DOMAIN)
        # Catalogues are appended to by several people; the last entry for a msgid wins.
        with mo_path.open("wb") as handle:
            write_mo(handle, catalog, use_fuzzy=False)
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
