"""The display helpers (admin/display.py): names in the page's language, phone numbers as
people write them, and the same helpers reach the templates."""

from __future__ import annotations

import pytest

from admin.app import create_app
from admin.display import class_name, in_page_language, show_phone
from pbx_daemon.config import load_config
from pbx_daemon.crm import models as m


@pytest.fixture
def app(tmp_path):
    config = load_config(None, {"PBX_CRM_DATABASE_URL": f"sqlite:///{tmp_path}/admin.sqlite3",
                                "PBX_CRM_ADMIN_SECRET_KEY": "s" * 40})
    return create_app(config)


@pytest.mark.parametrize("language, expected", [("ru", "Лид"), ("en", "Lead")])
def test_an_inquiry_class_is_named_in_the_pages_language(app, language, expected):
    with app.test_request_context("/", headers={"Accept-Language": language}):
        assert class_name(m.InquiryClass(code="lead", name="Lead", name_ru="Лид")) == expected


def test_a_class_without_a_russian_name_keeps_its_own_and_no_class_is_blank(app):
    with app.test_request_context("/", headers={"Accept-Language": "ru"}):
        assert class_name(m.InquiryClass(code="x", name="Custom", name_ru="")) == "Custom"
        assert class_name(None) == ""
        assert in_page_language("Callback", None) == "Callback"


@pytest.mark.parametrize("number, shown", [
    ("+79161234567", "8 (916) 123-45-67"),  # at home (general.default_region RU): national form
    ("+4930123456", "+49 30 123456"),       # abroad: international form
    ("not a number", "not a number"),       # display only: shown as stored, never an error
    (None, ""),
    ("", ""),
])
def test_phone_numbers_show_as_people_write_them(app, number, shown):
    with app.app_context():
        assert show_phone(number) == shown


def test_templates_get_the_display_helpers(app):
    globals_ = app.jinja_env.globals
    assert globals_["class_name"] is class_name and globals_["show_phone"] is show_phone
