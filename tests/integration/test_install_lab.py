"""``pbx-crm asterisk install`` on Debian's stock Asterisk configuration (issue 16), in the
lab root: a customer's box nobody at pbx-crm configured (:class:`~pbx_daemon.lab.stock.StockPbx`).

Independent SIP peers only: sipp registers as Anna's desk phone with digest auth (the
generated password; a wrong one is refused), answers the call the daemon routes to it,
and places a call out; sipp is also the provider's trunk, matched by address.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from pbx_daemon import db
from pbx_daemon.cli import main
from pbx_daemon.crm import models as m
from pbx_daemon.lab import Lab
from pbx_daemon.lab.stock import StockPbx
from pbx_daemon.telephony.install import OUR_FILES
from pbx_daemon.telephony.phones_file import new_sip_password, set_sip_password
from tests.integration.conftest import (TEST_AGI_LISTEN, TEST_AGI_STANDBY_LISTEN, TEST_API_PORT,
                                       TEST_API_TOKEN, running_daemon)

pytestmark = pytest.mark.lab

SIPP = Path(__file__).parent / "sipp"
BENCH_SIPP = Path(__file__).parents[2] / "bench" / "sipp"
SIP_PORT, ARI_PORT = 15260, 18288
TRUNK_IP, TRUNK_PORT = "127.0.0.3", 15261  # the provider: our trunk's contact and match
DID = "+74951110077"
CALLER = "+79161112233"
CLIENT = "+79161234567"
ARI_PASSWORD = "stock-ari-" + hashlib.sha1(b"pbx-crm").hexdigest()[:16]


IP_TRUNK = f'mode = "ip"\nhost = "{TRUNK_IP}:{TRUNK_PORT}"\nmatch = "{TRUNK_IP}"\n'


def write_config(path: Path, stock: StockPbx, url: str, data_dir: Path,
                 trunk: str = IP_TRUNK) -> Path:
    """The customer's pbx-crm.toml, as the README's install section has it."""
    path.write_text(
        f'[general]\ndata_dir = "{data_dir}"\n[database]\nurl = "{url}"\n'
        f'[ari]\nurl = "http://127.0.0.1:{ARI_PORT}/"\npassword = "{ARI_PASSWORD}"\n'
        f'[agi]\nlisten = "{TEST_AGI_LISTEN}"\nstandby_listen = "{TEST_AGI_STANDBY_LISTEN}"\n'
        f'[asterisk]\netc_dir = "{stock.etc}"\nsip_bind = "127.0.0.1:{SIP_PORT}"\n'
        f'recording_dir = "{stock.path_inside(stock.spool_dir / "recording")}"\n'
        f'fallback_phones = "101"\n'
        f'[trunk]\n{trunk}dids = "{DID}"\n')
    return path


def snapshot(etc: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(etc.iterdir()) if p.is_file()}


def seed(url: str) -> str:
    """Sales answers DID; Anna's phone 101 gets a generated SIP password (returned)."""
    password = new_sip_password()
    engine = db.make_engine(url)
    with db.make_session_factory(engine)() as s:
        sales = m.Department(name="Sales", group_timeout=15)
        s.add(sales)
        s.flush()
        anna = m.Employee(full_name="Anna", login="anna", sip_endpoint="101", department_id=sales.id)
        set_sip_password(anna, password, datetime.now(timezone.utc))
        s.add(anna)
        s.add(m.TrackingNumber(number=DID, department_id=sales.id))
        s.add(m.Setting(key="default_department_id", value=str(sales.id)))
        s.commit()
    engine.dispose()
    return password


def sipp(*args: str, workdir: Path) -> list[str]:
    return ["sipp", f"127.0.0.1:{SIP_PORT}", *args, "-nostdin", "-trace_err",
            "-error_file", str(workdir / f"sipp-{time.monotonic_ns()}.err")]


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def contacts(stock: StockPbx) -> str:
    return stock.rx("pjsip show contacts", check=False).stdout


def stored(url: str, *, ended: bool = True, **where):
    """(direction, outcome, answered by, dialled) of the call matching ``where``, once it
    ended (``ended=False``: as soon as it is stored)."""
    engine = db.make_engine(url)
    try:
        with db.make_session_factory(engine)() as s:
            query = select(m.Call)
            for key, value in where.items():
                query = query.where(getattr(m.Call, key) == value)
            call = s.scalar(query)
            if call is None or (ended and call.ended_at is None):
                return None
            return (call.direction, call.outcome,
                    call.answered_by.login if call.answered_by else None, call.dialled_number)
    finally:
        engine.dispose()


def reset_in_admin(url: str) -> str:
    """An admin sets Anna's SIP password on the admin's page (Flask test client against
    the running daemon's API); returns the password the page shows once."""
    from werkzeug.security import generate_password_hash

    from admin.app import create_app
    from pbx_daemon.config import load_config
    from tests.unit.helpers import admin_login

    engine = db.make_engine(url)
    with db.make_session_factory(engine)() as s:
        s.add(m.Employee(full_name="Root", login="root", role="admin",
                         password_hash=generate_password_hash("root-Password-1")))
        s.commit()
        anna = s.scalar(select(m.Employee).where(m.Employee.login == "anna")).id
    engine.dispose()
    app = create_app(load_config(None, {
        "PBX_CRM_DATABASE_URL": url, "PBX_CRM_ADMIN_SECRET_KEY": "s" * 40,
        "PBX_CRM_API_TOKEN": TEST_API_TOKEN,
        "PBX_CRM_API_LISTEN": f"tcp:{TEST_API_PORT}:interface=127.0.0.1"}))
    client = admin_login(app, "root")
    page_url = f"/admin/employee/sip-password/{anna}"
    token = re.search(r'name="csrf_token" value="([^"]+)"',
                      client.get(page_url).get_data(as_text=True)).group(1)
    page = client.post(page_url, data={"csrf_token": token}).get_data(as_text=True)
    return re.search(r'<code id="sip-password">([^<]+)</code>', page).group(1)


@pytest.fixture
def stock(lab: Lab):
    """A fresh copy of the root's stock /etc/asterisk, stopped at the end."""
    pbx = StockPbx(lab.root, "stock-test")
    pbx.prepare()
    yield pbx
    pbx.stop()


def test_install_twice_changes_nothing_and_uninstall_gives_the_stock_files_back(stock, tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/pbx.sqlite3"
    db.upgrade(url)
    seed(url)
    config = write_config(tmp_path / "pbx-crm.toml", stock, url, tmp_path)
    before = snapshot(stock.etc)

    assert main(["--config", str(config), "asterisk", "install", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "+#tryinclude pjsip_pbxcrm.conf" in out and snapshot(stock.etc) == before

    assert main(["--config", str(config), "asterisk", "install",
                 "--backup-dir", str(tmp_path / "bk1")]) == 0
    installed = snapshot(stock.etc)
    assert set(OUR_FILES) <= set(installed)
    # The backup holds the stock files install changed, as they were.
    for name in ("pjsip.conf", "extensions.conf", "http.conf", "ari.conf", "cel.conf"):
        assert (tmp_path / "bk1" / name).read_bytes() == before[name]
    capsys.readouterr()

    assert main(["--config", str(config), "asterisk", "install",
                 "--backup-dir", str(tmp_path / "bk2")]) == 0
    assert "nothing to change" in capsys.readouterr().out
    assert snapshot(stock.etc) == installed and not (tmp_path / "bk2").exists()

    # The customer edits their own file meanwhile; uninstall keeps that edit.
    with open(stock.etc / "extensions.conf", "a") as f:
        f.write("\n[from-office]\nexten => 100,1,Hangup()\n")
    assert main(["--config", str(config), "asterisk", "uninstall"]) == 0
    after = snapshot(stock.etc)
    assert after["extensions.conf"] == before["extensions.conf"] + \
        b"\n[from-office]\nexten => 100,1,Hangup()\n"
    after.pop("extensions.conf")
    before.pop("extensions.conf")
    assert after == before


def test_a_registered_phone_is_rung_answers_and_calls_out_through_the_trunk(
        lab: Lab, stock, tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/pbx.sqlite3"
    db.upgrade(url)
    password = seed(url)
    config = write_config(tmp_path / "pbx-crm.toml", stock, url, tmp_path)
    assert main(["--config", str(config), "asterisk", "install",
                 "--backup-dir", str(tmp_path / "bk")]) == 0
    # The stored digest, not the password, is what Asterisk got.
    phones = (stock.etc / "pjsip_pbxcrm_phones.conf").read_text()
    assert hashlib.md5(f"101:pbx-crm:{password}".encode()).hexdigest() in phones
    assert password not in phones
    stock.start()
    endpoints = stock.rx("pjsip show endpoints").stdout
    assert "101" in endpoints and "pbxcrm-trunk" in endpoints

    procs: list[subprocess.Popen] = []
    try:
        # A wrong password is refused: sipp got an answer to its authenticated REGISTER
        # (exit 0) and the PBX lists no contact for 101.
        wrong = subprocess.run(sipp("-sf", str(SIPP / "phone_register.xml"), "-s", "101",
                                    "-au", "101", "-ap", password[:-1] + "x",
                                    "-i", "127.0.0.1", "-p", "15263", "-m", "1", workdir=tmp_path),
                               capture_output=True, text=True, timeout=30)
        assert wrong.returncode == 0, wrong.stdout[-2000:]
        assert "101/sip:101@" not in contacts(stock)

        # The right one registers; the phone stays up to answer (-oocsf).
        phone = subprocess.Popen(sipp("-sf", str(SIPP / "phone_register.xml"),
                                      "-oocsf", str(SIPP / "phone_answer.xml"), "-s", "101",
                                      "-au", "101", "-ap", password, "-i", "127.0.0.1",
                                      "-p", "15262", "-m", "1", "-d", "120000",
                                      workdir=tmp_path),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        procs.append(phone)
        wait_for(lambda: "101/sip:101@127.0.0.1:15262" in contacts(stock), 10, "101 to register")

        with running_daemon(lab, tmp_path, url, ari=(ARI_PORT, ARI_PASSWORD),
                            asterisk_extra=f'etc_dir = "{stock.etc}"\n',
                            extra=f'[trunk]\nhost = "{TRUNK_IP}:{TRUNK_PORT}"\n'):
            # The provider calls the DID in its national digits form; the routed call rings
            # the registered phone, which answers; the caller talks 3 s and hangs up.
            callers = tmp_path / "callers.csv"
            callers.write_text(f"SEQUENTIAL\n{CALLER}\n")
            inbound = subprocess.run(sipp("-sf", str(BENCH_SIPP / "answer.xml"), "-s", DID[1:],
                                          "-inf", str(callers), "-i", TRUNK_IP, "-p", "15264",
                                          "-m", "1", workdir=tmp_path),
                                     capture_output=True, text=True, timeout=60)
            assert inbound.returncode == 0, inbound.stdout[-2000:]
            assert wait_for(lambda: stored(url, caller=CALLER), 15, "the inbound call's row") == \
                ("inbound", "answered", "anna", DID)

            # The phone calls a client's number: out through the trunk (sipp answers).
            trunk = subprocess.Popen(["sipp", "-sf", str(SIPP / "phone_answer.xml"),
                                      "-i", TRUNK_IP, "-p", str(TRUNK_PORT), "-m", "1",
                                      "-nostdin"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT)
            procs.append(trunk)
            time.sleep(0.5)
            outbound = subprocess.run(sipp("-sf", str(SIPP / "phone_call.xml"), "-s", "89161234567",
                                           "-key", "phone", "101", "-au", "101", "-ap", password,
                                           "-i", "127.0.0.1", "-p", "15265", "-m", "1",
                                           workdir=tmp_path),
                                      capture_output=True, text=True, timeout=60)
            assert outbound.returncode == 0, outbound.stdout[-2000:]
            assert trunk.wait(20) == 0
            direction, outcome, _, _ = wait_for(
                lambda: stored(url, direction="outbound"), 15, "the outbound call's row")
            assert (direction, outcome) == ("outbound", "answered")

            # The admin gives Anna's phone a new password: the daemon rewrites the phones
            # file and reloads PJSIP; the next REGISTER needs the new one. No restart.
            phone.terminate()
            phone.wait(5)
            new_password = reset_in_admin(url)
            assert new_password != password
            wait_for(lambda: new_password not in (stock.etc / "pjsip_pbxcrm_phones.conf").read_text()
                     and hashlib.md5(f"101:pbx-crm:{new_password}".encode()).hexdigest()
                     in (stock.etc / "pjsip_pbxcrm_phones.conf").read_text(), 10, "the phones file")
            for secret, port in ((password, 15266), (new_password, 15267)):
                # Exit 0: the PBX answered the authenticated REGISTER (200, or 401/403).
                done = subprocess.run(sipp("-sf", str(SIPP / "phone_register.xml"), "-s", "101",
                                    "-au", "101", "-ap", secret, "-i", "127.0.0.1", "-p", str(port),
                                    "-m", "1", workdir=tmp_path),
                                      capture_output=True, text=True, timeout=30)
                assert done.returncode == 0, done.stdout[-2000:]
            assert "101/sip:101@127.0.0.1:15266" not in contacts(stock)  # the old password
            assert "101/sip:101@127.0.0.1:15267" in contacts(stock)  # the new one
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(5)


def test_a_register_mode_trunk_registers_with_the_provider_and_its_line_reaches_the_did(
        lab: Lab, tmp_path):
    """[trunk] mode = "register": Asterisk registers with the provider (sipp as registrar
    checks the digest) and a call the provider sends to the registered username enters
    pbx-crm as the first DID."""
    pbx = StockPbx(lab.root, "stock-reg")
    pbx.prepare()
    url = f"sqlite:///{tmp_path}/pbx.sqlite3"
    db.upgrade(url)
    seed(url)
    config = write_config(tmp_path / "pbx-crm.toml", pbx, url, tmp_path, trunk=(
        f'mode = "register"\nhost = "{TRUNK_IP}:{TRUNK_PORT}"\nusername = "sipuser42"\n'
        'password = "prov-Secret-9"\n'))
    registrar = subprocess.Popen(["sipp", "-sf", str(SIPP / "registrar.xml"), "-i", TRUNK_IP,
                                  "-p", str(TRUNK_PORT), "-key", "user", "sipuser42",
                                  "-key", "secret", "prov-Secret-9", "-nostdin"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        assert main(["--config", str(config), "asterisk", "install",
                     "--backup-dir", str(tmp_path / "bk")]) == 0
        pbx.start()
        wait_for(lambda: "Registered" in pbx.rx("pjsip show registrations", check=False).stdout,
                 15, "the trunk to register")
        with running_daemon(lab, tmp_path, url, ari=(ARI_PORT, ARI_PASSWORD)):
            callers = tmp_path / "callers.csv"
            callers.write_text(f"SEQUENTIAL\n{CALLER}\n")
            # Nobody's phone is registered: routing skips Anna's (presence) and hands the
            # caller to the dialplan's fallback group, which has no contact either. The
            # row is stored at once with the DID; its end comes from CEL (reconciliation,
            # off in this test).
            subprocess.run(sipp("-sf", str(BENCH_SIPP / "giveup.xml"), "-s", "sipuser42",
                                "-inf", str(callers), "-i", TRUNK_IP, "-p", "15274",
                                "-recv_timeout", "3000", "-m", "1", workdir=tmp_path),
                           capture_output=True, text=True, timeout=60)
            assert wait_for(lambda: stored(url, caller=CALLER, ended=False), 15,
                            "the call's row")[3] == DID
    finally:
        registrar.terminate()
        registrar.wait(5)
        pbx.stop()
