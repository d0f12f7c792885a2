"""How the pages show things: names in the page's language and phone numbers as people
write them. The templates get these as Jinja globals (:func:`admin.app.create_app`); views
import them from here. Display only: nothing here decides or stores anything.
"""

from __future__ import annotations

from flask import current_app
from flask_babel import get_locale

from pbx_daemon.crm.phones import format_display


def in_page_language(name: str, name_ru: str | None) -> str:
    """``name_ru`` on a Russian page when there is one, else ``name``."""
    return name_ru if str(get_locale()) == "ru" and name_ru else name


def class_name(inquiry_class) -> str:
    """An inquiry class in the page's language (seed 003's classes carry both)."""
    if inquiry_class is None:
        return ""
    return in_page_language(inquiry_class.name, inquiry_class.name_ru)


def show_phone(number: str | None) -> str:
    """``+79161234567`` as ``8 (916) 123-45-67`` at home (``general.default_region``),
    international form abroad; anything unparsable as it is."""
    if not number:
        return ""
    try:
        return format_display(number, current_app.extensions["pbx_crm_config"].general.default_region)
    except Exception:  # noqa: BLE001 - display only
        return number
