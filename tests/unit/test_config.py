"""Configuration: precedence, type conversion, typos refused, every validation rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from pbx_daemon.config import ConfigError, config_summary, load_config, validate

GOOD = {
    "PBX_CRM_ARI_PASSWORD": "Ari-Password-0123",
    "PBX_CRM_API_TOKEN": "Api-Token-0123456789",
    "PBX_CRM_ADMIN_SECRET_KEY": "k" * 40,
}


def _keys(problems):
    return [p.key for p in problems]


def test_defaults_load_without_a_file_and_listen_on_loopback():
    config = load_config(None, {})
    assert config.database.url == "sqlite:////var/lib/pbx-crm/pbx-crm.sqlite3"
    assert config.recordings.dir == "/var/lib/pbx-crm/recordings"
    assert "127.0.0.1" in config.admin.listen and "127.0.0.1" in config.agi.listen
    assert config.ari.password == "" and config.api.token == ""


def test_file_then_environment_then_overrides(tmp_path: Path):
    path = tmp_path / "c.toml"
    path.write_text('[routing]\nowner_timeout = 7\ngroup_timeout = 8\nhead_timeout = 9\n'
                    '[log]\nformat = "text"\n')
    config = load_config(str(path), {"PBX_CRM_ROUTING_GROUP_TIMEOUT": "12",
                                      "PBX_CRM_ROUTING_HEAD_TIMEOUT": "13"},
                         {"routing.head_timeout": 14, "log.format": "json"})
    assert (config.routing.owner_timeout, config.routing.group_timeout,
            config.routing.head_timeout, config.log.format) == (7, 12, 14, "json")


def test_pbx_crm_config_names_the_file(tmp_path: Path):
    path = tmp_path / "c.toml"
    path.write_text('[database]\nurl = "sqlite:///x.db"\n')
    assert load_config(None, {"PBX_CRM_CONFIG": str(path)}).database.url == "sqlite:///x.db"


def test_data_dir_moves_the_default_database_and_recordings():
    config = load_config(None, {"PBX_CRM_GENERAL_DATA_DIR": "/srv/pbx"})
    assert config.database.url == "sqlite:////srv/pbx/pbx-crm.sqlite3"
    assert config.recordings.dir == "/srv/pbx/recordings"


@pytest.mark.parametrize("env,needle", [
    ({"PBX_CRM_ROUTING_OWNER_TIMEOUT": "ten"}, "PBX_CRM_ROUTING_OWNER_TIMEOUT"),
    ({"PBX_CRM_GENERAL_ALLOW_PUBLIC_BIND": "maybe"}, "PBX_CRM_GENERAL_ALLOW_PUBLIC_BIND"),
    ({"PBX_CRM_ARI_PASWORD": "x"}, "PBX_CRM_ARI_PASWORD"),
    ({"PBX_CRM_NOPE": "x"}, "PBX_CRM_NOPE"),
])
def test_bad_environment_is_a_one_line_error_naming_the_variable(env, needle):
    with pytest.raises(ConfigError) as info:
        load_config(None, env)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_test_and_config_variables_are_not_config_keys():
    load_config(None, {"PBX_CRM_TEST_POSTGRES_URL": "x", "PBX_CRM_CONFIG": ""})


@pytest.mark.parametrize("text,needle", [
    ("[ari]\npasword = 'x'\n", "ari.pasword"),
    ("[aryi]\npassword = 'x'\n", "[aryi]"),
    ("[routing]\nowner_timeout = 'ten'\n", "routing.owner_timeout"),
    ("[ari\n", "not valid TOML"),
])
def test_bad_file_is_a_one_line_error(tmp_path: Path, text, needle):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(str(path), {})
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_missing_file_is_an_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(str(tmp_path / "nope.toml"), {})


def test_a_good_config_has_no_problems():
    assert validate(load_config(None, GOOD), {"daemon", "admin", "agi", "lab"}) == []


@pytest.mark.parametrize("env,key", [
    ({"PBX_CRM_ARI_PASSWORD": ""}, "ari.password"),
    ({"PBX_CRM_ARI_PASSWORD": "asterisk"}, "ari.password"),
    ({"PBX_CRM_ARI_PASSWORD": "short"}, "ari.password"),
    ({"PBX_CRM_API_TOKEN": ""}, "api.token"),
    ({"PBX_CRM_ADMIN_SECRET_KEY": "too-short-for-a-session-key"}, "admin.secret_key"),
    ({"PBX_CRM_ADMIN_LISTEN": "tcp:8000"}, "admin.listen"),
    ({"PBX_CRM_ADMIN_LISTEN": "tcp:8000:interface=0.0.0.0"}, "admin.listen"),
    ({"PBX_CRM_AGI_LISTEN": "tcp:4573:interface=192.0.2.10"}, "agi.listen"),
    ({"PBX_CRM_API_LISTEN": "bogus:1"}, "api.listen"),
    ({"PBX_CRM_ARI_URL": "http://192.0.2.1:8088/"}, "ari.url"),
    ({"PBX_CRM_ARI_URL": "ftp://127.0.0.1/"}, "ari.url"),
    ({"PBX_CRM_REDIS_URL": "redis://10.1.2.3:6379/0"}, "redis.url"),
    ({"PBX_CRM_REDIS_URL": "http://127.0.0.1/"}, "redis.url"),
    ({"PBX_CRM_DATABASE_URL": "not a url"}, "database.url"),
    ({"PBX_CRM_DATABASE_URL": "mysql://u@127.0.0.1/db"}, "database.url"),
    ({"PBX_CRM_ARI_APP": "pbx crm;"}, "ari.app"),
    ({"PBX_CRM_GENERAL_DEFAULT_REGION": "XX"}, "general.default_region"),
    ({"PBX_CRM_GENERAL_TIMEZONE": "Mars/Olympus"}, "general.timezone"),
    ({"PBX_CRM_GENERAL_COMPANY_CALLER_ID": "8495"}, "general.company_caller_id"),
    ({"PBX_CRM_ROUTING_OWNER_TIMEOUT": "0"}, "routing.owner_timeout"),
    ({"PBX_CRM_ROUTING_TOP_TIMEOUT": "601"}, "routing.top_timeout"),
    ({"PBX_CRM_ROUTING_BLOCKED_ACTION": "hangup"}, "routing.blocked_action"),
    ({"PBX_CRM_LOG_FORMAT": "xml"}, "log.format"),
    ({"PBX_CRM_INQUIRIES_STALE_MISSED_TASKS": "all"}, "inquiries.stale_missed_tasks"),
    ({"PBX_CRM_INQUIRIES_ESCALATE_AFTER_MINUTES": "-1"}, "inquiries.escalate_after_minutes"),
    ({"PBX_CRM_ASTERISK_RECONCILE_HORIZON_HOURS": "-1"}, "asterisk.reconcile_horizon_hours"),
    ({"PBX_CRM_WEBHOOKS_KEEP_DAYS": "-1"}, "webhooks.keep_days"),
    ({"PBX_CRM_LAB_TRUNK_IP": "127.0.0.1"}, "lab.trunk_ip"),
])
def test_each_rule_names_the_offending_key(env, key):
    problems = validate(load_config(None, {**GOOD, **env}), {"daemon", "admin", "agi", "lab"})
    assert key in _keys(problems), problems
    assert all("\n" not in str(p) for p in problems)


def test_public_bind_needs_the_explicit_flag():
    env = {**GOOD, "PBX_CRM_ADMIN_LISTEN": "tcp:8000:interface=0.0.0.0"}
    assert "admin.listen" in _keys(validate(load_config(None, env), {"admin"}))
    env["PBX_CRM_GENERAL_ALLOW_PUBLIC_BIND"] = "true"
    assert validate(load_config(None, env), {"admin"}) == []


def test_secrets_are_only_required_by_the_parts_that_use_them():
    config = load_config(None, {})
    assert _keys(validate(config, {"admin"})) == ["admin.secret_key"]
    assert set(_keys(validate(config, {"daemon"}))) == {"ari.password", "api.token"}


def test_summary_masks_every_secret():
    env = {**GOOD, "PBX_CRM_DATABASE_URL": "postgresql://pbx:db-Secret-1@127.0.0.1/pbx"}
    text = "\n".join(config_summary(load_config(None, env)))
    for secret in (*GOOD.values(), "db-Secret-1"):
        assert secret not in text
    assert "ari.password = '*** (17 chars)'" in text
    assert "ari.password" not in repr(load_config(None, env).ari)


def test_the_example_file_loads_and_lists_every_key():
    import tomllib
    from dataclasses import fields

    from pbx_daemon.config import Config

    path = Path(__file__).resolve().parents[2] / "pbx-crm.example.toml"
    load_config(str(path), {})
    data = tomllib.loads(path.read_text())
    for section in fields(Config):
        listed = set(data[section.name])
        expected = {f.name for f in fields(getattr(Config(), section.name))}
        assert listed == expected, section.name
