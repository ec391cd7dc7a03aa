"""The two languages and their catalogues, outside any request.

Pages and API answers speak the caller's language through Flask-Babel. Some text carries
both languages at once, whatever the caller's: a printed ticket, a printer's message on
the kiosk screen, an alert sent to the dashboard from a background task. ``both`` gives
(English, Urdu) of a catalogue message from the same catalogues Flask-Babel reads, with
or without an app, so no Urdu is written in Python.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from babel.support import NullTranslations, Translations

PROJECT_DIR = Path(__file__).resolve().parent.parent
LANGUAGES = ("en", "ur")
#: One catalogue per package, merged: the same list Flask-Babel is given.
TRANSLATION_FOLDERS = tuple(
    folder
    for folder in (
        PROJECT_DIR / name / "translations"
        for name in ("queue_server", "kiosk", "counters", "counters/manager", "display")
    )
    if folder.is_dir()
)


@cache
def catalogue(language: str) -> NullTranslations:
    merged: NullTranslations | None = None
    for folder in TRANSLATION_FOLDERS:
        found = Translations.load(str(folder), [language])
        if not isinstance(found, Translations):
            continue  # no catalogue for this language in this package
        if isinstance(merged, Translations):
            merged.merge(found)
        else:
            merged = found
    return merged or NullTranslations()


def in_language(language: str, message: str, **params: Any) -> str:
    text = catalogue(language).ugettext(message)
    return text % params if params else text


def both(message: str, **params: Any) -> tuple[str, str]:
    """(English, Urdu) of a catalogue message, formatted with ``params``."""
    english, urdu = (in_language(language, message, **params) for language in LANGUAGES)
    return english, urdu
