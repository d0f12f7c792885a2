"""Rendering the PBX files: placeholders filled, hostile values refused."""

from __future__ import annotations

import hashlib

import pytest

from pbx_daemon.telephony.asterisk_render import (
    Phone,
    RenderError,
    dial_list,
    render_phones,
    render_text,
    sip_md5_cred,
)


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


def test_a_registering_phone_authenticates_with_its_digest_only():
    cred = sip_md5_cred("101", "Zq8-secret")
    assert cred == hashlib.md5(b"101:pbx-crm:Zq8-secret").hexdigest()
    text = render_phones([Phone("101", md5_cred=cred)])
    assert f"auth_type = md5\nusername = 101\nrealm = pbx-crm\nmd5_cred = {cred}\n" in text
    assert "Zq8-secret" not in text and "max_contacts = 1\nremove_existing = yes" in text
    with pytest.raises(RenderError, match="MD5"):
        render_phones([Phone("101", md5_cred="x\n[evil]")])
    with pytest.raises(RenderError, match="credentials"):
        render_phones([Phone("101")])  # neither a contact nor credentials: anyone could register
