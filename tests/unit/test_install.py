"""`pbx-crm asterisk install` as a plan over file texts: what it adds to a stock Debian
configuration, that a second run changes nothing, that uninstall gives the files back byte
for byte, and what it refuses."""

from __future__ import annotations

import re

import pytest

from pbx_daemon.telephony import asterisk_conf
from pbx_daemon.telephony.install import (OUR_FILES, InstallSettings, TrunkSettings, plan_install,
                                          plan_uninstall)

# The parts of Debian's asterisk-config 22 that matter here, as shipped (comments trimmed).
STOCK = {
    "asterisk.conf": "[directories](!)\nastetcdir => /etc/asterisk\n",
    "modules.conf": "[modules]\nautoload=yes\nnoload => chan_alsa.so\n",
    "pjsip.conf": ";[transport-udp]\n;type=transport\n;protocol=udp\n;bind=0.0.0.0\n",
    "extensions.conf": "[general]\nstatic=yes\nwriteprotect=no\n\n[globals]\nCONSOLE=Console/dsp\n"
                       "\n[public]\ninclude => demo\n",
    "ari.conf": "[general]\nenabled = yes       ; When set to no, ARI support is disabled.\n",
    "http.conf": "[general]\nservername=Asterisk\nbindaddr=127.0.0.1\n",
    "cel.conf": "[general]\napps=dial,park\nevents=APP_START,CHAN_START\n\n[manager]\n",
    "cel_custom.conf": ";[mappings]\n;Master.csv => ${CSV_QUOTE(${eventtype})}\n",
}
SETTINGS = InstallSettings(
    ari_username="pbx-crm", ari_password="ari-Secret-1234567890", ari_port=8088,
    trunk=TrunkSettings(endpoint="pbxcrm-trunk", mode="register", host="sip.example.net",
                        match=("sip.example.net",), username="74951234567",
                        password="prov-Pass-1", from_user="74951234567",
                        dids=("+74951234567",)),
    fallback_phones=("101", "102"))


def install(files, settings=SETTINGS, phones=None):
    plan = plan_install(files, settings, phones=phones)
    assert not plan.problems, plan.problems
    return {**files, **plan.writes}, plan


def categories(files, top):
    return asterisk_conf.load(files, top)


def test_install_hooks_our_files_into_the_stock_ones_and_fills_every_placeholder():
    after, plan = install(STOCK)
    assert set(OUR_FILES) <= set(plan.writes)
    for name in OUR_FILES:
        assert not re.search(r"@[A-Z0-9_]+@", after[name]), name
    for top, ours in (("pjsip.conf", "pjsip_pbxcrm.conf"), ("ari.conf", "ari_pbxcrm.conf")):
        assert after[top].startswith(STOCK[top])
        assert f"\n#tryinclude {ours}\n" in after[top]
    # Reading the result as Asterisk would: our sections exist where they must.
    pjsip = {(c.name, c.get("type")) for c in categories(after, "pjsip.conf")}
    assert {("pbxcrm-udp", "transport"), ("pbxcrm-trunk", "endpoint"), ("pbxcrm-trunk", "aor"),
            ("pbxcrm-trunk-auth", "auth"), ("pbxcrm-trunk-reg", "registration")} <= pjsip
    http = categories(after, "http.conf")
    assert [c.options for c in http if c.name == "general"] == ["", "+"]
    assert asterisk_conf.find(http, "general")[-1].get("bindaddr") == "127.0.0.1"
    ari = {c.name: c for c in categories(after, "ari.conf")}
    assert ari["pbx-crm"].get("password") == "ari-Secret-1234567890"
    cel = asterisk_conf.find(categories(after, "cel.conf"), "general")[-1]
    # The customer's CEL apps and events stay; ours are added.
    assert cel.get("apps") == "dial,park,stasis,mixmonitor"
    assert cel.get("events").startswith("APP_START,CHAN_START,") and "LINKEDID_END" in cel.get("events")
    dialplan = categories(after, "extensions.conf")
    assert asterisk_conf.find(dialplan, "globals")[-1].options == "+"
    assert asterisk_conf.find(dialplan, "globals")[-1].get("PBXCRM_FALLBACK_DIAL") == "PJSIP/101&PJSIP/102"
    did = asterisk_conf.find(dialplan, "pbxcrm-trunk-in")[0]
    assert ("exten", "84951234567,1,Goto(pbxcrm-from-trunk,+74951234567,1)") in did.settings


def test_a_second_install_changes_nothing_and_uninstall_gives_the_files_back():
    after, _ = install(STOCK)
    again = plan_install(after, SETTINGS, phones=None)
    assert again.writes == {} and again.problems == []
    undo = plan_uninstall(after)
    restored = {k: v for k, v in {**after, **undo.writes}.items() if v is not None}
    assert restored == STOCK


def test_uninstall_keeps_what_the_customer_changed_meanwhile_and_deletes_files_it_created():
    stock = {k: v for k, v in STOCK.items() if k != "cel_custom.conf"}
    after, plan = install(stock)
    assert plan.writes["cel_custom.conf"].lstrip().startswith("; pbx-crm >>>")
    after["extensions.conf"] += "\n[sales]\nexten => 100,1,Dial(PJSIP/100)\n"
    undo = plan_uninstall(after)
    assert undo.writes["cel_custom.conf"] is None
    assert undo.writes["extensions.conf"] == STOCK["extensions.conf"] + \
        "\n[sales]\nexten => 100,1,Dial(PJSIP/100)\n"


def test_categories_that_do_not_exist_are_opened_not_added_to():
    bare = {"pjsip.conf": "", "extensions.conf": "", "http.conf": "", "ari.conf": "",
            "cel.conf": "", "modules.conf": "[modules]\nautoload=yes\n"}
    after, _ = install(bare)
    assert "[general]\nenabled = yes" in after["http_pbxcrm.conf"]
    assert "[globals]\n" in after["extensions_pbxcrm.conf"]
    assert "(+)" not in after["extensions_pbxcrm.conf"]


def test_an_existing_transport_is_used_not_duplicated():
    files = {**STOCK, "pjsip.conf": "[udp]\ntype=transport\nprotocol=udp\nbind=0.0.0.0\n"}
    after, plan = install(files)
    assert "type = transport" not in after["pjsip_pbxcrm.conf"]
    assert not plan.notes


@pytest.mark.parametrize("name,text,problem", [
    ("pjsip.conf", "[pbxcrm-trunk]\ntype=endpoint\n", "already has a section [pbxcrm-trunk]"),
    ("extensions.conf", "[pbxcrm-internal]\nexten => 1,1,Hangup()\n", "context [pbxcrm-internal]"),
    ("extensions.conf", "[globals]\nPBXCRM_APP=other\n", "sets PBXCRM_APP"),
    ("ari.conf", "[general]\nenabled=yes\n[pbx-crm]\ntype=user\npassword=x\n", "a user [pbx-crm]"),
    ("http.conf", "[general]\nenabled=yes\nbindaddr=0.0.0.0\n", "not loopback"),
    ("http.conf", "[general]\nenabled=yes\nbindaddr=127.0.0.1\nbindport=8080\n", "port 8080"),
    ("modules.conf", "[modules]\nautoload=no\nload => res_pjsip.so\n", "autoload is off"),
])
def test_conflicts_are_refused_with_one_line_each_and_nothing_written(name, text, problem):
    plan = plan_install({**STOCK, name: text}, SETTINGS, phones=None)
    assert plan.writes == {}
    assert len(plan.problems) == 1 and problem in plan.problems[0]


def test_a_conflict_in_an_included_file_names_that_file_and_line():
    files = {**STOCK, "pjsip.conf": "#include pjsip_custom.conf\n",
             "pjsip_custom.conf": "; mine\n[pbxcrm-trunk]\ntype=aor\n"}
    plan = plan_install(files, SETTINGS, phones=None)
    assert plan.problems[0].startswith("pjsip_custom.conf:2:")


def test_hostile_trunk_values_are_refused():
    from pbx_daemon.telephony.asterisk_render import RenderError

    bad = InstallSettings(ari_username="pbx-crm", ari_password="ari-Secret-1234567890",
                          trunk=TrunkSettings(host="sip.example.net", mode="register",
                                              username="u", password="p\n[evil]"))
    with pytest.raises(RenderError):
        plan_install(STOCK, bad, phones=None)


def test_the_parser_reads_comments_templates_and_includes_as_asterisk_does():
    cats, includes = asterisk_conf.parse(
        "[a](!)\nx = 1 ; note\ny => 2\\;3\n;-- block\n[hidden]\n--;\n#include other.conf\n[b](+)\n", "f")
    assert [(c.name, c.options) for c in cats] == [("", ""), ("a", "!"), ("b", "+")]
    assert cats[1].settings == [("x", "1"), ("y", "2;3")]
    assert includes == [(7, "other.conf")]
