"""UI languages through gettext catalogues: zh-CN (default) and English.

Message ids are English and live in the templates (``_("…")``) and in the web modules (``_()``, or
``N_()`` for module-level constants). The catalogues are ``station/locale/<locale>/LC_MESSAGES/
messages.po``; they are compiled in memory when the station starts, so a fresh clone needs no
build step and no generated ``.mo`` file is committed. To refresh them after changing UI text::

    make messages      # pybabel extract + update (see babel.cfg)

A missing or broken catalogue falls back to the English message ids rather than stopping the TV.
"""

from __future__ import annotations

import gettext
import io
import logging
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

LOCALE_DIR = Path(__file__).parent / "locale"
DEFAULT = "zh-CN"
# language tag (station.toml, cookie, <html lang>) -> gettext locale folder
LANGUAGES = {"zh-CN": "zh_CN", "en": "en"}
LABELS = {"zh-CN": "中文", "en": "English"}


def normalise(tag: str | None, fallback: str = DEFAULT) -> str:
    """A supported language tag for what a config or cookie says (``zh``, ``zh_CN``, ``EN`` …)."""
    t = (tag or "").strip().replace("_", "-").lower()
    for known in LANGUAGES:
        if t == known.lower() or (t and known.lower().startswith(t.split("-")[0])):
            return known
    return fallback if fallback in LANGUAGES else DEFAULT


@cache
def translations(tag: str) -> gettext.NullTranslations:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    po = LOCALE_DIR / LANGUAGES.get(tag, "") / "LC_MESSAGES" / "messages.po"
    try:
        with open(po, "rb") as f:
            catalog = read_po(f, locale=LANGUAGES[tag])
        buf = io.BytesIO()
        write_mo(buf, catalog)
        buf.seek(0)
        return gettext.GNUTranslations(buf)
    except (OSError, KeyError, ValueError) as exc:
        log.warning("UI language %s: catalogue %s unusable (%s); showing English", tag, po, exc)
        return gettext.NullTranslations()


class Translator:
    """``_("Played %(n)d times", n=3)``: gettext, then %-formatting with the keyword arguments."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self._t = translations(tag)

    def __call__(self, message: str, **params: Any) -> str:
        text = self._t.gettext(message)
        return text % params if params else text

    def ngettext(self, singular: str, plural: str, n: int, **params: Any) -> str:
        text = self._t.ngettext(singular, plural, n)
        return text % {"num": n, **params}


Gettext = Callable[..., str]


def N_(message: str) -> str:
    """Marks a message for extraction (Babel keyword ``N_``); it is translated where it is shown."""
    return message


def english(message: str, **params: Any) -> str:
    """A ``Gettext`` that shows the message ids themselves (English), for the command line."""
    return message % params if params else message
