"""The lab's pure parts: phone modes, the apt mirror lookup, CEL records into rings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pbx_daemon.lab import Lab, LabError, PhoneMode
from pbx_daemon.lab.lab import LabSettings, debian_mirror


@pytest.mark.parametrize("text,mode", [
    ("ring", PhoneMode("ring")),
    ("reject", PhoneMode("reject")),
    ("busy", PhoneMode("busy")),
    ("answer", PhoneMode("answer", 0, None)),
    ("answer:3", PhoneMode("answer", 3, None)),
    ("answer:3:10", PhoneMode("answer", 3, 10)),
    ("blind:1:3:102", PhoneMode("blind", 1, 3, "102")),
    ("attended:2:5:103", PhoneMode("attended", 2, 5, "103")),
    ("press1:2", PhoneMode("press1", 2)),
])
def test_phone_modes_round_trip(text, mode):
    assert PhoneMode.parse(text) == mode
    assert PhoneMode.parse(mode.encode()) == mode


@pytest.mark.parametrize("bad", ["", "answer:x", "answer:1:2:3", "ring;x", "pickup", "answer:-1",
                                 "blind:1:3", "blind:1:3:10x", "attended:1:3:102,Hangup",
                                 "press1", "press1:1:2"])
def test_bad_phone_modes_are_refused(bad):
    with pytest.raises(LabError):
        PhoneMode.parse(bad)


def test_mirror_comes_from_the_apt_sources(tmp_path: Path):
    (tmp_path / "a.list").write_text("deb [arch=amd64] https://packages.example/apt x main\n")
    (tmp_path / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n")
    assert debian_mirror([tmp_path / "a.list", tmp_path / "debian.sources"]) == \
        "http://mirror.example/debian"
    with pytest.raises(LabError, match="PBX_CRM_LAB_MIRROR"):
        debian_mirror([tmp_path / "a.list"])


def _record(eventtype, t, uid, **kw):
    base = {"eventtype": eventtype, "userdeftype": "", "eventtime": t, "name": "Ivan",
            "num": "+79161234567", "dnid": "", "exten": "101", "context": "world-phone",
            "channame": "PJSIP/pbx-00000001", "uniqueid": uid, "linkedid": uid, "eventextra": ""}
    base.update(kw)
    return json.dumps(base)


def test_rings_are_rebuilt_from_the_worlds_cel_lines(tmp_path: Path):
    lab = Lab(LabSettings(root=tmp_path, state_dir=tmp_path / "state", name="unit"))
    lab.events_file.parent.mkdir(parents=True)
    lines = [
        _record("CHAN_START", 10.0, "w.1", context="world-from-pbx"),
        _record("LAB_RING", 10.1, "w.1", userdeftype="LAB_RING"),
        _record("LAB_RING", 10.2, "w.2", userdeftype="LAB_RING", exten="102"),
        _record("ANSWER", 11.1, "w.1"),
        _record("HANGUP", 11.2, "w.2", eventextra='{"hangupcause":26,"dialstatus":""}'),
        "not json",
        _record("HANGUP", 14.0, "w.1", eventextra='{"hangupcause":16}'),
        _record("LAB_RING", 20.0, "w.3", userdeftype="LAB_RING", context="world-pstn",
                exten="+74950000000"),
    ]
    lab.events_file.write_text("\n".join(lines) + "\n")
    rings = lab.rings()
    assert [(r.kind, r.target, r.answered_at, r.ended_at, r.hangup_cause) for r in rings] == [
        ("phone", "101", 11.1, 14.0, 16),
        ("phone", "102", None, 11.2, 26),
        ("pstn", "+74950000000", None, None, None),
    ]
    assert [r.target for r in lab.rings(since=15.0)] == ["+74950000000"]


def test_lab_names_are_checked():
    with pytest.raises(LabError):
        LabSettings(root=Path("/x"), state_dir=Path("/y"), name="../etc")


def test_render_needs_an_ari_password(tmp_path: Path):
    lab = Lab(LabSettings(root=tmp_path, state_dir=tmp_path, name="unit"))
    with pytest.raises(LabError, match="ari.password"):
        lab.render()
    lab = Lab(LabSettings(root=tmp_path, state_dir=tmp_path, name="unit",
                          ari_password="Lab-Password-123"))
    files = lab.render()
    assert "bind = 127.0.0.2:5060" in files["world"]["pjsip.conf"]
    assert "contact = sip:101@127.0.0.1:5070" in files["pbx"]["pjsip_pbxcrm_phones.conf"]
    assert "/srv/pbx-crm-lab/unit/pbx/etc" in files["pbx"]["asterisk.conf"]


def test_a_root_is_built_when_its_marker_lists_todays_packages(tmp_path: Path):
    """The marker written after debootstrap gives the version without running Asterisk;
    a root built for another package list is built again."""
    from pbx_daemon.lab.build import MARKER, PACKAGES

    lab = Lab(LabSettings(root=tmp_path / "root", state_dir=tmp_path / "state", name="unit"))
    assert not lab.is_built() and lab.status()["version"] is None
    (lab.root / "usr/sbin").mkdir(parents=True)
    (lab.root / "usr/sbin/asterisk").write_text("")
    (lab.root / MARKER).write_text("Asterisk 22.5.2\n" + ",".join(PACKAGES) + "\n")
    assert lab.is_built()
    status = lab.status()
    assert status["version"] == "Asterisk 22.5.2" and status["pbx"] == {"pid": None}
    (lab.root / MARKER).write_text("Asterisk 22.5.2\nasterisk\n")
    assert not lab.is_built()
