"""The configuration: one TOML file, then ``PBX_CRM_<SECTION>_<KEY>`` environment
variables, then command-line overrides, loaded once in ``main()`` into a frozen object.

Nothing here has a working default secret, and every listen address defaults to
loopback: the ARI user can originate calls through the trunk, so anything that reaches
it from the network can run up a phone bill.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

ENV_PREFIX = "PBX_CRM_"
WEAK_SECRETS = frozenset({"", "asterisk", "password", "changeme", "secret", "pbx-crm", "admin"})
MIN_SECRET = 12


class ConfigError(Exception):
    """The configuration cannot be loaded; ``str()`` is one line saying what to fix."""


@dataclass(frozen=True)
class ConfigProblem:
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key} {self.message}"


@dataclass(frozen=True)
class General:
    data_dir: str = "/var/lib/pbx-crm"
    default_region: str = "RU"
    default_area_code: str = ""
    timezone: str = "Europe/Moscow"
    company_caller_id: str = ""
    allow_public_bind: bool = False


@dataclass(frozen=True)
class Database:
    # Empty means SQLite in general.data_dir.
    url: str = ""


@dataclass(frozen=True)
class Redis:
    url: str = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class Ari:
    url: str = "http://127.0.0.1:8088/"
    username: str = "pbx-crm"
    password: str = field(default="", repr=False)
    app: str = "pbx-crm"


@dataclass(frozen=True)
class Agi:
    listen: str = "tcp:4573:interface=127.0.0.1"  # the daemon's FastAGI
    # `pbx-crm agi-server`: the same route decision in its own small process, for while
    # the daemon is stopped or restarting (a process AGI costs ~0.6 s of Python start-up).
    standby_listen: str = "tcp:4574:interface=127.0.0.1"


@dataclass(frozen=True)
class Api:
    listen: str = "tcp:8091:interface=127.0.0.1"
    token: str = field(default="", repr=False)


@dataclass(frozen=True)
class AdminSection:
    listen: str = "tcp:8000:interface=127.0.0.1"
    secret_key: str = field(default="", repr=False)
    public_url: str = "http://127.0.0.1:8000"
    # X-Api-Token a site's form sends with POST /api/inquiries; empty turns it off.
    webform_token: str = field(default="", repr=False)
    # Failed logins before a login name, or a client address, has to wait
    # login_lockout_seconds (counted over that window, in the admin process).
    login_max_failures: int = 5
    login_max_failures_per_address: int = 30
    login_lockout_seconds: int = 900
    # Open screen-pop streams one employee may hold at once (tabs, browsers).
    max_streams_per_user: int = 5
    # The largest request body, checked by Twisted before it is read (and by Flask): a
    # call-list upload (20 MiB) plus the form around it.
    max_request_bytes: int = 24 * 1024 * 1024
    # Reverse proxies in front of the admin (nginx: 1) whose X-Forwarded-For/-Proto/-Host/
    # -Port the admin believes; 0 believes none (a client could forge them).
    trusted_proxies: int = 0
    # The REST API (/api/v1): requests one token may make a minute (bursts up to as many);
    # and requests with a missing or bad token (401) one client address may make a minute,
    # past which that address gets 429 whatever token it sends. 0 turns either off.
    api_rate_per_minute: int = 120
    api_auth_failures_per_minute: int = 10


@dataclass(frozen=True)
class Routing:
    owner_timeout: int = 10
    group_timeout: int = 15
    head_timeout: int = 15
    top_timeout: int = 20
    lookup_deadline_ms: int = 500
    blocked_action: str = "busy"


@dataclass(frozen=True)
class Recordings:
    # Empty means <data_dir>/recordings.
    dir: str = ""
    format: str = "wav"


@dataclass(frozen=True)
class Inquiries:
    callback_deadline_minutes: int = 15
    # Missed calls stored after their call-back deadline (reconciled late): "summary" (one
    # task per responsible listing them) or "none" (inquiries only).
    stale_missed_tasks: str = "summary"
    # Web-form inquiries (POST /api/inquiries): the source when the form names none that
    # exists (created once; a form never creates sources), and the department (by name)
    # that gets them when their source has no tracking number with a department.
    web_form_source: str = "web"
    web_form_department: str = ""
    # A missed-call task still open this many minutes after its deadline goes to the head of
    # its department (a notification, and an e-mail when report.smtp_host is set), once; 0: never.
    escalate_after_minutes: int = 30


@dataclass(frozen=True)
class ClickToCall:
    # How long the employee's own phone rings, then the client's, in seconds.
    employee_timeout: int = 30
    client_timeout: int = 40


@dataclass(frozen=True)
class Report:
    # The owner's daily report (pbx-crm report daily --email).
    recovered_within_minutes: int = 60
    # The daemon rebuilds the analytics rollup's changed days this often (0: only when a
    # page or a report asks; see pbx_daemon.crm.stats.rollup).
    stats_refresh_interval: int = 60
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_user: str = ""
    smtp_password: str = field(default="", repr=False)
    mail_from: str = ""
    mail_to: str = ""  # comma-separated
    # The daemon e-mails yesterday's report at this company time ("09:00"); empty: never.
    send_at: str = ""


@dataclass(frozen=True)
class Webhooks:
    # The daemon POSTs the webhook events (pbx_daemon.crm.webhooks); the URLs are set in the
    # admin. Seconds between looks at the queue; a delivery's retries wait 5 s, 30 s, 2 min,
    # 10 min, then at most retry_max_interval; given up after give_up_hours. Once an hour
    # the daemon deletes the events older than keep_days whose deliveries are all over
    # (delivered or failed); 0: keeps them forever.
    poll_interval: int = 2
    timeout: int = 10
    retry_max_interval: int = 3600
    give_up_hours: int = 24
    keep_days: int = 30


@dataclass(frozen=True)
class Log:
    format: str = "text"
    level: str = "info"


@dataclass(frozen=True)
class AsteriskSection:
    # Where Asterisk writes what the daemon reads back after downtime (cel_custom.conf)
    # and where ARI and MixMonitor leave recordings.
    cel_log: str = "/var/log/asterisk/cel-custom/pbx-crm.jsonl"
    recording_dir: str = "/var/spool/asterisk/recording"
    # How often the daemon reconciles, in seconds (0: only at start).
    reconcile_interval: int = 60
    # A database that has never reconciled imports only calls that ended this many hours
    # before its first start (0: the whole CEL log).
    reconcile_horizon_hours: int = 24
    # The customer's Asterisk configuration: `pbx-crm asterisk install` puts our files
    # here and the daemon rewrites pjsip_pbxcrm_phones.conf in it when phones change.
    etc_dir: str = "/etc/asterisk"
    # Where PJSIP listens when the configuration has no transport yet (install adds one).
    sip_bind: str = "0.0.0.0:5060"
    # The address phones register to, shown with their credentials (empty: this host's name).
    sip_server: str = ""
    # The dialplan's last resort, when neither the daemon nor the AGI fallback can route:
    # these endpoints ring (comma-separated, e.g. "101,102"), this long.
    fallback_phones: str = ""
    fallback_timeout: int = 30
    # At most this many process AGI fallbacks at once (about one per core).
    agi_process_max: int = 2
    # The process AGI fallback as Asterisk runs it (the console script in the venv).
    agi_command: str = "/opt/pbx-crm/venv/bin/pbx-crm-agi-route"


@dataclass(frozen=True)
class Trunk:
    """The provider's SIP trunk as `pbx-crm asterisk install` renders it."""

    endpoint: str = "pbxcrm-trunk"   # the PJSIP endpoint name (dial strings, CEL)
    mode: str = "ip"                 # ip: matched by source address | register: we register
    host: str = ""                   # the provider's SIP server, host[:port]
    match: str = ""                  # ip mode: where its calls come from (empty: host)
    username: str = ""               # register mode: the account
    password: str = field(default="", repr=False)
    auth_username: str = ""          # when the provider's auth user differs from username
    from_domain: str = ""            # the domain in From on our calls (some providers want theirs)
    # Dialled numbers (DIDs) the trunk sends that pbx-crm answers, comma-separated E.164;
    # empty: every number. A registration trunk often sends its username instead: it is
    # read as the first DID.
    dids: str = ""
    caller_id_format: str = "e164"   # e164 (+74951234567) | national (84951234567) | digits (74951234567)
    dial_format: str = "e164"        # how the numbers we call are sent, same choices


@dataclass(frozen=True)
class LabSection:
    name: str = "lab"
    root: str = "/var/cache/pbx-crm/lab-root"
    state_dir: str = "/run/pbx-crm-lab"
    pbx_sip_port: int = 5060
    pbx_ari_port: int = 8088
    world_sip_port: int = 5070
    trunk_ip: str = "127.0.0.2"


@dataclass(frozen=True)
class Config:
    general: General = General()
    database: Database = Database()
    redis: Redis = Redis()
    ari: Ari = Ari()
    agi: Agi = Agi()
    api: Api = Api()
    admin: AdminSection = AdminSection()
    routing: Routing = Routing()
    recordings: Recordings = Recordings()
    inquiries: Inquiries = Inquiries()
    click_to_call: ClickToCall = ClickToCall()
    report: Report = Report()
    webhooks: Webhooks = Webhooks()
    log: Log = Log()
    asterisk: AsteriskSection = AsteriskSection()
    trunk: Trunk = Trunk()
    lab: LabSection = LabSection()

    def redacted(self) -> "Config":
        """A copy with every secret masked, safe to log or print."""
        return replace(
            self,
            ari=replace(self.ari, password=_mask(self.ari.password)),
            api=replace(self.api, token=_mask(self.api.token)),
            admin=replace(self.admin, secret_key=_mask(self.admin.secret_key),
                          webform_token=_mask(self.admin.webform_token)),
            report=replace(self.report, smtp_password=_mask(self.report.smtp_password)),
            trunk=replace(self.trunk, password=_mask(self.trunk.password)),
            database=replace(self.database, url=_mask_url(self.database.url)),
            redis=replace(self.redis, url=_mask_url(self.redis.url)),
        )


SECRET_KEYS = {("ari", "password"), ("api", "token"), ("admin", "secret_key"),
               ("admin", "webform_token"), ("report", "smtp_password"), ("trunk", "password")}


def _sections() -> dict[str, type]:
    return {f.name: f.type if isinstance(f.type, type) else globals()[f.type]
            for f in fields(Config)}


def _keys(section_cls: type) -> dict[str, type]:
    types = {"str": str, "int": int, "bool": bool, "float": float}
    return {f.name: types.get(f.type, f.type) if isinstance(f.type, str) else f.type
            for f in fields(section_cls)}


def _convert(value: Any, kind: type, where: str) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{where}: {value!r} is not a boolean (true/false)")
    if kind is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: {value!r} is not an integer")
        try:
            return int(str(value).strip())
        except ValueError:
            raise ConfigError(f"{where}: {value!r} is not an integer") from None
    if kind is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{where}: {value!r} is not a string")
        return str(value)
    raise ConfigError(f"{where}: unsupported type")  # pragma: no cover - schema bug


def load_config(path: str | None, environ: Mapping[str, str],
                overrides: Mapping[str, Any] | None = None) -> Config:
    """defaults < file < environment < overrides (``{"log.format": "json"}``)."""
    sections = _sections()
    values: dict[str, dict[str, Any]] = {name: {} for name in sections}

    path = path or environ.get("PBX_CRM_CONFIG") or None
    if path:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except OSError as e:
            raise ConfigError(f"config file {path}: {e.strerror}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"config file {path} is not valid TOML: {e}") from None
        for section, table in data.items():
            if section not in sections:
                raise ConfigError(f"{path}: unknown section [{section}] "
                                  f"(known: {', '.join(sections)})")
            if not isinstance(table, dict):
                raise ConfigError(f"{path}: {section} must be a [section]")
            keys = _keys(sections[section])
            for key, value in table.items():
                if key not in keys:
                    raise ConfigError(f"{path}: unknown key {section}.{key}")
                values[section][key] = _convert(value, keys[key], f"{path}: {section}.{key}")

    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name == "PBX_CRM_CONFIG" \
                or name.startswith("PBX_CRM_TEST_") or name.startswith("PBX_CRM_LAB_MIRROR"):
            continue
        rest = name[len(ENV_PREFIX):].lower()
        match = next(((s, rest[len(s) + 1:]) for s in sections
                      if rest.startswith(s + "_") and rest[len(s) + 1:] in _keys(sections[s])),
                     None)
        if match is None:
            raise ConfigError(f"environment variable {name} matches no config key")
        section, key = match
        values[section][key] = _convert(raw, _keys(sections[section])[key], name)

    for dotted, value in (overrides or {}).items():
        section, _, key = dotted.partition(".")
        if section not in sections or key not in _keys(sections[section]):
            raise ConfigError(f"unknown override {dotted}")
        values[section][key] = _convert(value, _keys(sections[section])[key], dotted)

    built = {name: cls(**values[name]) for name, cls in sections.items()}
    config = Config(**built)
    data_dir = config.general.data_dir.rstrip("/") or "/"
    if not config.database.url:
        config = replace(config, database=Database(url=f"sqlite:///{data_dir}/pbx-crm.sqlite3"))
    if not config.recordings.dir:
        config = replace(config, recordings=replace(config.recordings, dir=f"{data_dir}/recordings"))
    return config


# ---- validation -------------------------------------------------------------------------
def _is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _endpoint_problem(key: str, spec: str, allow_public: bool) -> ConfigProblem | None:
    """Check a Twisted server endpoint string such as ``tcp:8000:interface=127.0.0.1``."""
    from twisted.internet.endpoints import serverFromString
    from twisted.internet.testing import MemoryReactor

    try:
        endpoint = serverFromString(MemoryReactor(), spec)
    except (ValueError, TypeError, KeyError) as e:
        return ConfigProblem(key, f"is not a valid listen endpoint ({spec!r}: {e})")
    kind = type(endpoint).__name__
    if kind.startswith("UNIX"):
        return None
    interface = getattr(endpoint, "_interface", "")
    if not allow_public and not _is_loopback_host(interface):
        shown = interface or "all interfaces"
        return ConfigProblem(key, f"listens on {shown} ({spec!r}); use interface=127.0.0.1, "
                                  "or set general.allow_public_bind = true on purpose")
    return None


def _secret_problem(key: str, value: str, env: str, minimum: int = MIN_SECRET) -> ConfigProblem | None:
    if not value:
        return ConfigProblem(key, f"is not set (set it in the config file or {env})")
    if value.lower() in WEAK_SECRETS or len(value) < minimum:
        return ConfigProblem(key, f"is too weak (a well-known value or under {minimum} "
                                  "characters); `pbx-crm init-config` generates strong ones")
    return None


def validate(config: Config, for_: set[str] | frozenset[str] = frozenset()) -> list[ConfigProblem]:
    """Every problem with ``config`` for the given components (daemon, admin, agi, lab)."""
    import phonenumbers
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from pbx_daemon.crm.phones import is_e164

    unknown = set(for_) - {"daemon", "admin", "agi", "lab"}
    problems: list[ConfigProblem] = [
        ConfigProblem("--for", f"names unknown components: {', '.join(sorted(unknown))}")
    ] if unknown else []
    public = config.general.allow_public_bind
    g = config.general

    if g.default_region.upper() not in phonenumbers.SUPPORTED_REGIONS:
        problems.append(ConfigProblem("general.default_region",
                                      f"{g.default_region!r} is not a region code like RU"))
    if g.default_area_code and not re.fullmatch(r"[0-9]{2,5}", g.default_area_code):
        problems.append(ConfigProblem("general.default_area_code", "must be 2-5 digits"))
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(g.timezone)
    except Exception:  # noqa: BLE001 - any failure means the same thing to the operator
        problems.append(ConfigProblem("general.timezone", f"{g.timezone!r} is not a known time zone"))
    if g.company_caller_id and not is_e164(g.company_caller_id):
        problems.append(ConfigProblem("general.company_caller_id",
                                      f"{g.company_caller_id!r} is not an E.164 number like +74951234567"))

    try:
        url = make_url(config.database.url)
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            problems.append(ConfigProblem("database.url", "must be a sqlite:/// or postgresql:// URL"))
    except ArgumentError:
        problems.append(ConfigProblem("database.url",
                                      f"{_mask_url(config.database.url)!r} is not a database URL"))

    redis = urlsplit(config.redis.url)
    if redis.scheme not in ("redis", "rediss", "unix"):
        problems.append(ConfigProblem("redis.url", f"{_mask_url(config.redis.url)!r} is not a redis:// URL"))
    elif redis.scheme != "unix" and not public and not _is_loopback_host(redis.hostname):
        problems.append(ConfigProblem("redis.url", f"host {redis.hostname!r} is not loopback; "
                                                   "set general.allow_public_bind = true on purpose"))

    ari = urlsplit(config.ari.url)
    if ari.scheme not in ("http", "https") or not ari.hostname:
        problems.append(ConfigProblem("ari.url", f"{config.ari.url!r} is not an http:// URL"))
    elif not public and not _is_loopback_host(ari.hostname):
        problems.append(ConfigProblem("ari.url", f"host {ari.hostname!r} is not loopback: the "
                                                 "daemon runs on the Asterisk box"))
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", config.ari.app):
        problems.append(ConfigProblem("ari.app", "must be 1-64 letters, digits, '_' or '-'"))
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", config.ari.username):
        problems.append(ConfigProblem("ari.username", "must be 1-64 letters, digits, '_', '.' or '-'"))

    for name in ("owner_timeout", "group_timeout", "head_timeout", "top_timeout"):
        value = getattr(config.routing, name)
        if not 1 <= value <= 600:
            problems.append(ConfigProblem(f"routing.{name}", f"must be 1..600 seconds, not {value}"))
    if not 50 <= config.routing.lookup_deadline_ms <= 5000:
        problems.append(ConfigProblem("routing.lookup_deadline_ms", "must be 50..5000"))
    if config.routing.blocked_action not in ("busy", "message"):
        problems.append(ConfigProblem("routing.blocked_action", "must be busy or message"))
    if not 1 <= config.inquiries.callback_deadline_minutes <= 10080:
        problems.append(ConfigProblem("inquiries.callback_deadline_minutes", "must be 1..10080"))
    if not 0 <= config.inquiries.escalate_after_minutes <= 10080:
        problems.append(ConfigProblem("inquiries.escalate_after_minutes", "must be 0..10080 (0: off)"))
    if config.inquiries.stale_missed_tasks not in ("summary", "none"):
        problems.append(ConfigProblem("inquiries.stale_missed_tasks", "must be summary or none"))
    if not 1 <= len(config.inquiries.web_form_source.strip()) <= 120:
        problems.append(ConfigProblem("inquiries.web_form_source", "must be 1..120 characters"))
    if len(config.inquiries.web_form_department) > 120:
        problems.append(ConfigProblem("inquiries.web_form_department", "must be a department's name"))
    a = config.admin
    if not 1 <= a.login_max_failures <= 100:
        problems.append(ConfigProblem("admin.login_max_failures", "must be 1..100"))
    if not 1 <= a.login_max_failures_per_address <= 10000:
        problems.append(ConfigProblem("admin.login_max_failures_per_address", "must be 1..10000"))
    if not 10 <= a.login_lockout_seconds <= 86400:
        problems.append(ConfigProblem("admin.login_lockout_seconds", "must be 10..86400 seconds"))
    if not 1 <= a.max_streams_per_user <= 100:
        problems.append(ConfigProblem("admin.max_streams_per_user", "must be 1..100"))
    if not 1024 * 1024 <= a.max_request_bytes <= 1024 ** 3:
        problems.append(ConfigProblem("admin.max_request_bytes", "must be 1 MiB..1 GiB (in bytes)"))
    if not 0 <= a.trusted_proxies <= 5:
        problems.append(ConfigProblem("admin.trusted_proxies", "must be 0..5 (proxies in front of the admin)"))
    if not 0 <= a.api_rate_per_minute <= 100000:
        problems.append(ConfigProblem("admin.api_rate_per_minute", "must be 0..100000 (0: no limit)"))
    if not 0 <= a.api_auth_failures_per_minute <= 100000:
        problems.append(ConfigProblem("admin.api_auth_failures_per_minute", "must be 0..100000 (0: no limit)"))
    if not 0 <= config.asterisk.reconcile_horizon_hours <= 87600:
        problems.append(ConfigProblem("asterisk.reconcile_horizon_hours",
                                      "must be 0..87600 hours (0: the whole CEL log)"))
    if not 5 <= config.click_to_call.employee_timeout <= 120:
        problems.append(ConfigProblem("click_to_call.employee_timeout", "must be 5..120 seconds"))
    if not 5 <= config.click_to_call.client_timeout <= 300:
        problems.append(ConfigProblem("click_to_call.client_timeout", "must be 5..300 seconds"))
    if not 1 <= config.report.recovered_within_minutes <= 10080:
        problems.append(ConfigProblem("report.recovered_within_minutes", "must be 1..10080"))
    if not 0 <= config.report.stats_refresh_interval <= 86400:
        problems.append(ConfigProblem("report.stats_refresh_interval", "must be 0..86400 seconds"))
    if not 1 <= config.webhooks.poll_interval <= 3600:
        problems.append(ConfigProblem("webhooks.poll_interval", "must be 1..3600 seconds"))
    if not 1 <= config.webhooks.timeout <= 120:
        problems.append(ConfigProblem("webhooks.timeout", "must be 1..120 seconds"))
    if not 1 <= config.webhooks.retry_max_interval <= 86400:
        problems.append(ConfigProblem("webhooks.retry_max_interval", "must be 1..86400 seconds"))
    if not 1 <= config.webhooks.give_up_hours <= 720:
        problems.append(ConfigProblem("webhooks.give_up_hours", "must be 1..720 hours"))
    if not 0 <= config.webhooks.keep_days <= 3650:
        problems.append(ConfigProblem("webhooks.keep_days", "must be 0..3650 days (0: keep forever)"))
    if config.report.send_at and not re.fullmatch(r"([01][0-9]|2[0-3]):[0-5][0-9]", config.report.send_at):
        problems.append(ConfigProblem("report.send_at", "must be HH:MM (company time), e.g. 09:00"))
    elif config.report.send_at and not (config.report.smtp_host and config.report.mail_from
                                        and config.report.mail_to):
        problems.append(ConfigProblem("report.send_at", "needs report.smtp_host, mail_from and mail_to"))
    if not 1 <= config.report.smtp_port <= 65535:
        problems.append(ConfigProblem("report.smtp_port", "must be a TCP port"))
    if config.log.format not in ("text", "json"):
        problems.append(ConfigProblem("log.format", "must be text or json"))
    if config.log.level not in ("debug", "info", "warn", "error", "critical"):
        problems.append(ConfigProblem("log.level", "must be debug, info, warn, error or critical"))
    if config.recordings.format not in ("wav", "gsm", "wav49"):
        problems.append(ConfigProblem("recordings.format", "must be wav, gsm or wav49"))
    problems.extend(_asterisk_problems(config))

    if "daemon" in for_:
        for p in (_secret_problem("ari.password", config.ari.password, "PBX_CRM_ARI_PASSWORD"),
                  _secret_problem("api.token", config.api.token, "PBX_CRM_API_TOKEN"),
                  _endpoint_problem("api.listen", config.api.listen, public)):
            if p:
                problems.append(p)
    if "daemon" in for_ or "agi" in for_:
        for p in (_endpoint_problem("agi.listen", config.agi.listen, public),
                  _endpoint_problem("agi.standby_listen", config.agi.standby_listen, public)):
            if p:
                problems.append(p)
    if "admin" in for_:
        for p in (_secret_problem("admin.secret_key", config.admin.secret_key,
                                  "PBX_CRM_ADMIN_SECRET_KEY", minimum=32),
                  _endpoint_problem("admin.listen", config.admin.listen, public),
                  _secret_problem("admin.webform_token", config.admin.webform_token,
                                  "PBX_CRM_ADMIN_WEBFORM_TOKEN") if config.admin.webform_token else None):
            if p:
                problems.append(p)
    if "lab" in for_:
        p = _secret_problem("ari.password", config.ari.password, "PBX_CRM_ARI_PASSWORD")
        if p:
            problems.append(p)
        if not _is_loopback_host(config.lab.trunk_ip) or config.lab.trunk_ip == "127.0.0.1":
            problems.append(ConfigProblem("lab.trunk_ip", "must be a loopback address other than 127.0.0.1"))
    return problems


_SIP_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
_HOST_PORT = re.compile(r"^[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?$")
NUMBER_FORMATS = ("e164", "national", "digits")


def _asterisk_problems(config: Config) -> list[ConfigProblem]:
    """[asterisk] and [trunk]: every value here ends up in an Asterisk config file or a
    dial string, so each is held to the characters it needs."""
    problems = []
    a, t = config.asterisk, config.trunk
    if not a.etc_dir.startswith("/"):
        problems.append(ConfigProblem("asterisk.etc_dir", "must be an absolute path"))
    if not re.fullmatch(r"[0-9.]{7,15}:[0-9]{1,5}|\[[0-9a-fA-F:]+\]:[0-9]{1,5}", a.sip_bind):
        problems.append(ConfigProblem("asterisk.sip_bind", "must be address:port, e.g. 0.0.0.0:5060"))
    if a.sip_server and not _HOST_PORT.match(a.sip_server):
        problems.append(ConfigProblem("asterisk.sip_server", "must be a host name or address[:port]"))
    bad = [p for p in split_list(a.fallback_phones) if not _SIP_NAME.match(p)]
    if bad:
        problems.append(ConfigProblem("asterisk.fallback_phones",
                                      f"{bad[0][:40]!r} is not a SIP endpoint name"))
    if not 5 <= a.fallback_timeout <= 600:
        problems.append(ConfigProblem("asterisk.fallback_timeout", "must be 5..600 seconds"))
    if not 0 <= a.agi_process_max <= 64:
        problems.append(ConfigProblem("asterisk.agi_process_max", "must be 0..64"))
    if not re.fullmatch(r"/[A-Za-z0-9_./-]+", a.agi_command):
        problems.append(ConfigProblem("asterisk.agi_command", "must be an absolute path"))
    if not _SIP_NAME.match(t.endpoint):
        problems.append(ConfigProblem("trunk.endpoint", "must be 1-40 letters, digits, '_', '.' or '-'"))
    if t.mode not in ("ip", "register"):
        problems.append(ConfigProblem("trunk.mode", "must be ip or register"))
    if t.host and not _HOST_PORT.match(t.host):
        problems.append(ConfigProblem("trunk.host", "must be a host name or address[:port]"))
    for item in split_list(t.match):
        if not re.fullmatch(r"[0-9A-Za-z.:-]+(/[0-9]{1,3})?", item):
            problems.append(ConfigProblem("trunk.match", f"{item[:40]!r} is not an address or network"))
    for key in ("username", "auth_username", "from_domain"):
        value = getattr(t, key)
        if value and not re.fullmatch(r"[A-Za-z0-9_.@+-]{1,80}", value):
            problems.append(ConfigProblem(f"trunk.{key}", "has characters a SIP account cannot have"))
    if t.password and (any(c in t.password for c in ';[]\n\r$"\\') or not t.password.isprintable()):
        problems.append(ConfigProblem("trunk.password", "must not contain ; [ ] $ \" \\ or control characters"))
    if t.mode == "register" and t.host and not (t.username and t.password):
        problems.append(ConfigProblem("trunk.username", "register mode needs username and password"))
    for did in split_list(t.dids):
        if not re.fullmatch(r"\+?[0-9]{3,20}", did):
            problems.append(ConfigProblem("trunk.dids", f"{did[:40]!r} is not a phone number"))
    for key in ("caller_id_format", "dial_format"):
        if getattr(t, key) not in NUMBER_FORMATS:
            problems.append(ConfigProblem(f"trunk.{key}", "must be e164, national or digits"))
    return problems


def endpoint_port(spec: str, default: int) -> int:
    """The port of a Twisted endpoint string such as ``tcp:4573:interface=127.0.0.1``."""
    match = re.match(r"^tcp6?:(?:port=)?(\d+)", spec)
    return int(match.group(1)) if match else default


def split_list(text: str) -> list[str]:
    """``"101, 102"`` -> ``["101", "102"]``: the comma-separated lists of the config."""
    return [part.strip() for part in text.split(",") if part.strip()]


# ---- display ----------------------------------------------------------------------------
def _mask(secret: str) -> str:
    return f"*** ({len(secret)} chars)" if secret else "(not set)"


def _mask_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url


def config_summary(config: Config) -> list[str]:
    """``section.key = value`` lines, secrets masked, for ``pbx-crm check-config``."""
    shown = config.redacted()
    lines = []
    for section in fields(shown):
        obj = getattr(shown, section.name)
        for f in fields(obj):
            lines.append(f"{section.name}.{f.name} = {getattr(obj, f.name)!r}")
    return lines


def api_base_url(config: Config) -> str:
    """Where the admin reaches the daemon's API, from ``api.listen``
    (``tcp:8091:interface=127.0.0.1`` -> ``http://127.0.0.1:8091``)."""
    parts = dict(p.split("=", 1) for p in config.api.listen.split(":")[2:] if "=" in p)
    port = config.api.listen.split(":")[1] if ":" in config.api.listen else "8091"
    host = parts.get("interface", "127.0.0.1")
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"
