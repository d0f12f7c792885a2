"""`pbx-crm` commands through `cli.main`: the lines users read, the files written and the
exit codes (0 done, 1 failed at run time, 2 bad usage or configuration)."""

from __future__ import annotations

import io
import stat
from pathlib import Path

import pytest
from sqlalchemy import select

from pbx_daemon import db
from pbx_daemon.cli import main
from pbx_daemon.crm import models as m

GOOD = {
    "PBX_CRM_ARI_PASSWORD": "Ari-Password-0123",
    "PBX_CRM_API_TOKEN": "Api-Token-0123456789",
    "PBX_CRM_ADMIN_SECRET_KEY": "k" * 40,
}


@pytest.fixture
def env(monkeypatch, tmp_path: Path):
    """No config file, no PBX_CRM_* from the caller's shell; a database URL in tmp_path."""
    import os

    for key in list(os.environ):
        if key.startswith("PBX_CRM_"):
            monkeypatch.delenv(key)
    url = f"sqlite:///{tmp_path}/db/pbx.sqlite3"
    monkeypatch.setenv("PBX_CRM_DATABASE_URL", url)
    return url


@pytest.fixture
def url(env):
    """A migrated database."""
    db.upgrade(env)
    return env


def _stdin(monkeypatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))


def _employee(url: str, login: str):
    engine = db.make_engine(url)
    try:
        with db.make_session_factory(engine)() as s:
            return s.scalar(select(m.Employee).where(m.Employee.login == login))
    finally:
        engine.dispose()


def test_check_config_prints_the_summary_and_says_ok(env, monkeypatch, capsys):
    for key, value in GOOD.items():
        monkeypatch.setenv(key, value)
    assert main(["check-config"]) == 0
    out = capsys.readouterr().out
    assert "ari.password = '*** (17 chars)'" in out
    assert out.splitlines()[-1] == "config OK for admin, agi, daemon"
    assert main(["check-config", "-q", "--for", "admin"]) == 0
    assert capsys.readouterr().out == "config OK for admin\n"


def test_check_config_lists_problems_and_exits_2(env, capsys):
    assert main(["check-config", "--quiet", "--for", "daemon"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "problem: ari.password" in captured.err and "problem: api.token" in captured.err


def test_a_bad_config_file_is_a_configuration_error(env, tmp_path, capsys):
    assert main(["--config", str(tmp_path / "missing.toml"), "check-config"]) == 2
    assert capsys.readouterr().err.startswith("pbx-crm: configuration: ")


def test_init_config_writes_fresh_secrets_readable_only_by_the_owner(env, tmp_path, capsys):
    path = tmp_path / "etc" / "pbx-crm.toml"
    assert main(["init-config", str(path), "--data-dir", str(tmp_path / "data")]) == 0
    assert capsys.readouterr().out == \
        f"wrote {path} with fresh secrets; use it with --config {path} or PBX_CRM_CONFIG\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = path.read_text()
    assert f'data_dir = "{tmp_path / "data"}"' in first
    assert main(["--config", str(path), "check-config", "-q"]) == 0
    assert main(["init-config", str(path)]) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    assert path.read_text() == first
    assert main(["init-config", str(path), "--force"]) == 0
    assert path.read_text() != first


def test_init_config_needs_no_loadable_config(env, tmp_path, monkeypatch):
    monkeypatch.setenv("PBX_CRM_CONFIG", str(tmp_path / "not-there.toml"))
    assert main(["init-config", str(tmp_path / "new.toml")]) == 0


def test_db_upgrade_and_current(env, capsys):
    assert main(["db", "current"]) == 0
    assert capsys.readouterr().out == "empty (run: pbx-crm db upgrade)\n"
    assert main(["db", "upgrade"]) == 0
    assert capsys.readouterr().out.endswith("is at revision 0018\n")
    assert main(["db", "current"]) == 0
    assert capsys.readouterr().out == "0018\n"


def test_user_add_then_passwd_from_stdin(url, monkeypatch, capsys):
    _stdin(monkeypatch, "Long-Password-1\n")
    assert main(["user", "add", "anna", "--name", "Анна", "--role", "head", "--password-stdin"]) == 0
    assert capsys.readouterr().out == "add: anna (head)\n"
    first = _employee(url, "anna").password_hash
    assert first and _employee(url, "anna").full_name == "Анна"
    nonce = _employee(url, "anna").session_nonce
    _stdin(monkeypatch, "Other-Password-2\n")
    assert main(["user", "passwd", "anna", "--password-stdin"]) == 0
    assert capsys.readouterr().out == "passwd: anna (head)\n"
    assert _employee(url, "anna").password_hash != first
    # A new password ends the sessions of the old one (the admin checks the nonce).
    assert nonce and _employee(url, "anna").session_nonce != nonce


def test_user_add_has_no_default_role(url, monkeypatch, capsys):
    """A forgotten --role is an error naming it, not an admin."""
    _stdin(monkeypatch, "Long-Password-1\n")
    with pytest.raises(SystemExit) as exit_:
        main(["user", "add", "anna", "--password-stdin"])
    assert exit_.value.code == 2
    assert "the following arguments are required: --role" in capsys.readouterr().err
    assert _employee(url, "anna") is None


def test_user_refusals(url, monkeypatch, capsys):
    _stdin(monkeypatch, "short\n")
    assert main(["user", "add", "anna", "--role", "admin", "--password-stdin"]) == 2
    assert capsys.readouterr().err == \
        "pbx-crm: configuration: a password needs at least 10 characters\n"
    assert _employee(url, "anna") is None
    _stdin(monkeypatch, "Long-Password-1\n")
    assert main(["user", "passwd", "boris", "--password-stdin"]) == 1
    assert capsys.readouterr().err == "pbx-crm: no employee with login 'boris'\n"
    _stdin(monkeypatch, "Long-Password-1\n")
    assert main(["user", "add", "anna", "--role", "admin", "--password-stdin"]) == 0
    assert capsys.readouterr().out == "add: anna (admin)\n"
    assert main(["user", "add", "anna", "--role", "manager", "--password-stdin"]) == 1
    assert "exists; use `pbx-crm user passwd`" in capsys.readouterr().err


CSV = ("Компания;ФИО;Телефон\n"
       "ООО Окна;Иванов Иван;8 (916) 111-22-33\n"
       "Без телефона;Сидоров;звоните в офис\n")


def test_import_list_dry_run_then_for_real_with_a_report(url, tmp_path, capsys):
    path = tmp_path / "list.csv"
    path.write_text(CSV, encoding="utf-8")
    rows = tmp_path / "rows.csv"
    assert main(["import-list", str(path), "--list", "Окна", "--dry-run"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("Окна: would add 1; ")
    assert captured.err.startswith(f"{path}: 2 rows; columns: ")
    assert "checking [" + "#" * 30 + "] 2/2\n" in captured.err
    assert main(["import-list", str(path), "--list", "Окна", "--report", str(rows),
                 "--map", "phone=Телефон"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("Окна: added 1; ") and captured.out.endswith(f"; report in {rows}\n")
    assert "overridden: {'phone': 'Телефон'}" in captured.err
    assert rows.read_text(encoding="utf-8").splitlines()[0] == "\ufeffСтрока;Телефон;Доб.;Итог"


def test_import_list_refusals(url, tmp_path, capsys):
    path = tmp_path / "list.csv"
    path.write_text(CSV, encoding="utf-8")
    assert main(["import-list", str(path), "--list", "x", "--map", "phone"]) == 2
    assert capsys.readouterr().err == \
        "pbx-crm: --map 'phone': use field=Header, e.g. phone=Телефон\n"
    assert main(["import-list", str(tmp_path / "nope.csv"), "--list", "x"]) == 1
    assert capsys.readouterr().err.startswith("pbx-crm: ")


def test_report_daily_to_stdout_and_to_a_file(url, tmp_path, capsys):
    assert main(["report", "daily", "--date", "2026-11-20"]) == 0
    captured = capsys.readouterr()
    assert "20.11.2026" in captured.out and captured.err == ""
    out = tmp_path / "day.html"
    assert main(["report", "daily", "--date", "2026-11-20", "--format", "html",
                 "--output", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == f"wrote {out}\n"
    assert "<html" in out.read_text(encoding="utf-8").lower()


def test_report_refusals(url, capsys):
    assert main(["report", "daily", "--date", "20.11.2026"]) == 2
    assert capsys.readouterr().err == "pbx-crm: --date '20.11.2026': use YYYY-MM-DD\n"
    assert main(["report", "daily", "--email"]) == 2
    assert "--email needs report.smtp_host" in capsys.readouterr().err


def test_reconcile_reads_the_cel_log(url, tmp_path, capsys):
    assert main(["reconcile", "--cel-log", str(tmp_path / "none.jsonl")]) == 1
    assert capsys.readouterr().err == \
        f"pbx-crm: no CEL log at {tmp_path / 'none.jsonl'} (asterisk.cel_log)\n"
    cel = tmp_path / "cel.jsonl"
    cel.write_text("")
    assert main(["reconcile", "--cel-log", str(cel)]) == 0
    assert capsys.readouterr().out == \
        f"reconciled {cel}: 0 complete calls, 0 stored (0 answered, 0 missed)\n"


def test_call_asks_the_daemons_api(env, monkeypatch, capsys):
    from pbx_daemon.telephony import api_client
    from pbx_daemon.telephony.api_client import ClickToCallError

    assert main(["call", "anna", "+79161234567"]) == 2
    assert capsys.readouterr().err == "pbx-crm: api.token is not set: the daemon's API needs it\n"
    monkeypatch.setenv("PBX_CRM_API_TOKEN", GOOD["PBX_CRM_API_TOKEN"])
    assert main(["call", "anna", "+79161234567", "--card", "contact"]) == 2
    assert capsys.readouterr().err == "pbx-crm: --card must look like contact:12\n"
    asked = []

    def click_to_call(base_url, token, **kw):
        asked.append((token, kw))
        return {"call_id": "c-1", "state": "ringing", "number": "+79161234567"}

    monkeypatch.setattr(api_client, "click_to_call", click_to_call)
    assert main(["call", "7", "8 916 123-45-67", "--card", "deal:3"]) == 0
    assert capsys.readouterr().out == "c-1: ringing 7's phone; then +79161234567\n"
    assert asked == [(GOOD["PBX_CRM_API_TOKEN"],
                      {"employee": 7, "number": "8 916 123-45-67", "card": {"kind": "deal", "id": 3}})]

    def refuse(base_url, token, **kw):
        raise ClickToCallError(404, "no such employee")

    monkeypatch.setattr(api_client, "click_to_call", refuse)
    assert main(["call", "zoe", "+79161234567"]) == 1
    assert capsys.readouterr().err == "pbx-crm: click-to-call refused: no such employee\n"


def test_demo_seed_fills_an_empty_database_once(url, monkeypatch, capsys):
    _stdin(monkeypatch, "Demo-Password-1\n")
    assert main(["demo", "seed", "--password-stdin"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("demo data in sqlite:///") and "logins anna, boris" in out
    assert _employee(url, "anna").sip_endpoint == "101"
    _stdin(monkeypatch, "Demo-Password-1\n")
    assert main(["demo", "seed", "--password-stdin"]) == 0
    assert capsys.readouterr().err == \
        "demo: the demo data is there already (employee 'anna' exists)\n"


def test_the_daemon_and_the_admin_refuse_a_config_without_their_secrets(env, capsys):
    assert main(["daemon"]) == 2
    assert capsys.readouterr().err.startswith("pbx-crm: configuration: ari.password")
    assert main(["admin"]) == 2
    assert capsys.readouterr().err.startswith("pbx-crm: configuration: admin.secret_key")


def test_daemon_log_format_flag_is_validated_by_argparse(env, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["daemon", "--log-format", "xml"])
    assert exit_.value.code == 2


@pytest.fixture
def lab_env(env, monkeypatch, tmp_path: Path):
    """A lab whose root and state live in tmp_path: nothing built, nothing running."""
    monkeypatch.setenv("PBX_CRM_LAB_NAME", "unit")
    monkeypatch.setenv("PBX_CRM_LAB_ROOT", str(tmp_path / "root"))
    monkeypatch.setenv("PBX_CRM_LAB_STATE_DIR", str(tmp_path / "state"))
    return tmp_path


def _cel(eventtype, t, uid, **kw):
    import json

    base = {"eventtype": eventtype, "userdeftype": "", "eventtime": t, "name": "Ivan",
            "num": "+79161234567", "dnid": "", "exten": "101", "context": "world-phone",
            "channame": "PJSIP/pbx-00000001", "uniqueid": uid, "linkedid": uid, "eventextra": ""}
    base.update(kw)
    return json.dumps(base)


def test_lab_status_exits_3_when_the_lab_is_not_up(lab_env, capsys):
    import json

    assert main(["lab", "status"]) == 3
    status = json.loads(capsys.readouterr().out)
    assert status["built"] is False and status["pbx"] == {"pid": None}


def test_lab_env_prints_the_pbx_paths_as_exports(lab_env, capsys):
    assert main(["lab", "env"]) == 0
    root = lab_env / "root" / "srv" / "pbx-crm-lab" / "unit" / "pbx"
    assert capsys.readouterr().out == (
        f"export PBX_CRM_ASTERISK_RECORDING_DIR={root}/spool/recording\n"
        f"export PBX_CRM_ASTERISK_CEL_LOG={root}/log/cel-custom/pbx-crm.jsonl\n")


def test_lab_refusals_are_one_line_and_exit_1(lab_env, capsys):
    assert main(["lab", "call", "--from", "+7916", "--to", "12;Dial(x)"]) == 1
    assert capsys.readouterr().err == \
        "pbx-crm: dialled number '12;Dial(x)': digits with an optional leading +\n"
    assert main(["lab", "phone", "1234567", "answer", "--after", "2"]) == 1
    assert "lab phone '1234567'" in capsys.readouterr().err


def test_lab_events_reads_the_worlds_cel_as_lines_or_json(lab_env, capsys):
    import json

    events = lab_env / "root" / "srv" / "pbx-crm-lab" / "unit" / "world" / "log" / "cel-custom"
    events.mkdir(parents=True)
    (events / "lab-events.jsonl").write_text("\n".join([
        _cel("LAB_RING", 10.1, "w.1", userdeftype="LAB_RING"),
        _cel("ANSWER", 11.1, "w.1"),
        _cel("HANGUP", 14.0, "w.1", eventextra='{"hangupcause":16}'),
        _cel("LAB_RING", 20.0, "w.3", userdeftype="LAB_RING", context="world-pstn", exten="+74950000000"),
    ]) + "\n")
    assert main(["lab", "events", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["kind"], r["target"], r["answered_at"], r["hangup_cause"]) for r in rows] == \
        [("phone", "101", 11.1, 16), ("pstn", "+74950000000", None, None)]
    assert main(["lab", "events"]) == 0
    first, second = capsys.readouterr().out.splitlines()
    assert " phone 101            from '+79161234567' name 'Ivan': answered, answered " in first
    assert first.endswith(", cause 16")
    assert " pstn +74950000000   from " in second and ": ringing, answered -, ended -, cause None" in second


def test_session_for_disposes_its_engine_however_the_block_ends(monkeypatch, tmp_path):
    """The one engine/session/dispose sequence every database command goes through."""
    from sqlalchemy import event, text

    made, disposed = [], []
    make_engine = db.make_engine

    def recording_make_engine(url, **kw):
        engine = make_engine(url, **kw)
        event.listen(engine, "engine_disposed", lambda e: disposed.append(e))
        made.append(engine)
        return engine

    monkeypatch.setattr(db, "make_engine", recording_make_engine)
    with db.session_for(f"sqlite:///{tmp_path}/a.sqlite3") as session:
        assert session.scalar(text("select 1")) == 1
    assert disposed == made and len(made) == 1
    with pytest.raises(RuntimeError), db.session_for(f"sqlite:///{tmp_path}/a.sqlite3"):
        raise RuntimeError("a command failed half-way")
    assert disposed == made and len(made) == 2


COMMAND_MODULES = {
    "pbx_daemon/crm/commands.py": ("twisted", "flask", "pbx_daemon.telephony", "admin"),
    "pbx_daemon/crm/stats/commands.py": ("twisted", "flask", "pbx_daemon.telephony", "admin"),
    "pbx_daemon/telephony/commands.py": ("flask", "admin"),
    "pbx_daemon/commands.py": ("twisted", "flask", "admin"),
    "pbx_daemon/console.py": ("twisted", "flask", "admin"),
}


@pytest.mark.parametrize("path", sorted(COMMAND_MODULES))
def test_command_modules_keep_their_features_boundaries(path):
    """Every import, including those inside a command's body, stays on its side: the CRM's
    commands import no Twisted, Flask or telephony; telephony's import no Flask."""
    import ast

    source = (Path(__file__).resolve().parents[2] / path).read_text(encoding="utf-8")
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    forbidden = COMMAND_MODULES[path]
    assert not {name for name in imported
                if any(name == f or name.startswith(f + ".") for f in forbidden)}


def test_lab_phone_dial_writes_a_call_file_from_the_phones_endpoint(lab_env, capsys):
    """`lab phone 101 dial "8 916 123-45-67" --hold 3`: the world places the call from its
    desk endpoint with caller id 101 (the PBX's endpoint 101), as keyed, digits only."""
    spool = lab_env / "root" / "srv" / "pbx-crm-lab" / "unit" / "world" / "spool"
    (spool / "lab-tmp").mkdir(parents=True)
    (spool / "outgoing").mkdir()
    assert main(["lab", "phone", "101", "dial", "8 916 123-45-67", "--hold", "3"]) == 0
    tag = capsys.readouterr().out.strip()
    body = (spool / "outgoing" / f"{tag}.call").read_text()
    assert "Channel: PJSIP/89161234567@desk\n" in body
    assert 'CallerID: "Lab phone 101" <101>\n' in body
    assert "Context: world-caller\n" in body and "Setvar: LAB_HOLD=3\n" in body
    assert main(["lab", "phone", "102", "dial", "101"]) == 0
    assert "Setvar: LAB_HOLD=5\n" in (spool / "outgoing" / f"{capsys.readouterr().out.strip()}.call").read_text()


def test_lab_phone_dial_refusals(lab_env, capsys):
    assert main(["lab", "phone", "101", "dial", "8916;Dial(x)"]) == 1
    assert "dialled number '8916;Dial(x)'" in capsys.readouterr().err
    assert main(["lab", "phone", "101", "dial"]) == 2
    assert "which number?" in capsys.readouterr().err
    assert main(["lab", "phone", "101", "answer", "+7916"]) == 2
    with pytest.raises(SystemExit):
        main(["lab", "client", "+79161234567", "dial", "101"])
