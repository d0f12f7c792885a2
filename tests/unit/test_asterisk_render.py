"""Rendering the PBX files: placeholders filled, hostile values refused."""

from __future__ import annotations

import re

import pytest

from pbx_daemon.telephony.asterisk_render import (
    Phone,
    RenderError,
    dial_list,
    render_pbx_files,
    render_phones,
    render_text,
)

VALUES = {
    "ARI_BIND": "127.0.0.1", "ARI_PORT": "8088", "ARI_USERNAME": "pbx-crm",
    "ARI_PASSWORD": "s3cret-s3cret-s3cret", "ARI_APP": "pbx-crm", "SIP_BIND": "127.0.0.1",
    "SIP_PORT": "5060", "TRUNK_HOST": "198.51.100.7:5060", "TRUNK_MATCH": "198.51.100.7",
    "TRUNK_FROM_USER": "pbx-crm", "TRUNK_ENDPOINT": "pbxcrm-trunk", "FALLBACK_DIAL": "PJSIP/101&PJSIP/102", "FALLBACK_TIMEOUT": "30",
    "FASTAGI_HOST": "127.0.0.1", "BLOCKED_ACTION": "busy", "FASTAGI_PORT": "4573", "FASTAGI_STANDBY_PORT": "4574",
    "AGI_COMMAND": "/opt/pbx-crm/bin/pbx-crm-agi-route", "AGI_PROCESS_MAX": "2", "RECORDING_DIR": "/var/spool/asterisk/recording",
}


def test_every_placeholder_in_the_shipped_files_is_filled():
    files = render_pbx_files(VALUES, [Phone("101", contact="sip:101@127.0.0.1:5070")])
    assert {"http.conf", "ari.conf", "pjsip.conf", "extensions.conf",
            "extensions_pbxcrm.conf", "pjsip_phones.conf"} <= set(files)
    for name, text in files.items():
        # "@" itself is legitimate Asterisk syntax (PJSIP/<number>@trunk); a placeholder
        # left unfilled is not.
        assert not re.search(r"@[A-Z0-9_]+@", text), name
    assert "password = s3cret-s3cret-s3cret" in files["ari.conf"]
    assert "bindaddr = 127.0.0.1" in files["http.conf"]


def test_a_missing_value_names_the_placeholder():
    with pytest.raises(RenderError, match="@ARI_PASSWORD@"):
        render_text("password = @ARI_PASSWORD@", {})


@pytest.mark.parametrize("hostile", [
    "pw\n[evil]\ntype=user",  # a new section in ari.conf
    "pw;comment",  # the rest of the line becomes a comment
    "${SHELL}",  # dialplan expansion
    "pw\r", "\x00", 'a"b', "тест",
])
def test_values_that_could_change_the_config_are_refused(hostile):
    with pytest.raises(RenderError):
        render_text("password = @ARI_PASSWORD@", {"ARI_PASSWORD": hostile})


def test_dial_list_is_built_from_valid_endpoint_names_only():
    assert dial_list(["101", "sales.1"]) == "PJSIP/101&PJSIP/sales.1"
    for bad in ["101&PJSIP/999", "1,2", "x|y", "a b", "", "${EXTEN}", "1" * 41]:
        with pytest.raises(RenderError):
            dial_list([bad])


def test_registering_phone_gets_auth_and_no_static_contact():
    text = render_phones([Phone("201", password="Phone-Secret-1")])
    assert "auth = 201-auth" in text and "password = Phone-Secret-1" in text
    assert "max_contacts = 1" in text and "\ncontact =" not in text
    with pytest.raises(RenderError):
        render_phones([Phone("20 1")])
