"""The read-only REST API for integrations (amoCRM, Bitrix24, 1C connectors, BI):
``/api/v1``, JSON, GET only, ``Authorization: Bearer <token>`` and nothing else (no admin
session, no CSRF). The OpenAPI document (:mod:`admin.rest_api.spec`) is the contract:

    GET /api/v1/openapi.json                  the document (no token needed)
    GET /api/v1/calls[?since&until&direction&outcome&phone&employee_id&limit&cursor]
    GET /api/v1/calls/<id>                    scope "calls"
    GET /api/v1/inquiries[?since&until&status&class&limit&cursor]
    GET /api/v1/inquiries/<id>                scope "inquiries"
    GET /api/v1/recordings[?since&until&call_id&limit&cursor]
    GET /api/v1/recordings/<id>               scope "recordings" (metadata)
    GET /api/v1/recordings/<id>/audio         the file (Range requests work)

Errors are ``{"error": code, "message": words[, "parameter": name]}``: 400 bad_parameter,
401 missing_token / invalid_token (with ``WWW-Authenticate: Bearer``), 403
insufficient_scope, 404 not_found, 405 method_not_allowed, 429 rate_limited (with
``Retry-After``). A token reads every row of its scopes: the API is for the company's own
systems, and only admins make tokens.

Rate limits (:mod:`admin.rest_api.limits`, per admin process): a token makes at most
``admin.api_rate_per_minute`` requests a minute (answers carry ``RateLimit-Limit`` and
``RateLimit-Remaining``); a client address (``request.remote_addr``, an IPv6 one by its /64: the peer, or what
``admin.trusted_proxies`` make it) gets at most ``admin.api_auth_failures_per_minute``
401s a minute, and past that a 429 before its token is even looked up. Only the
endpoints behind a token count: not the document, not 404s and 405s of routing.
"""

from __future__ import annotations

import functools
import math
import mimetypes
from dataclasses import dataclass
from datetime import datetime, timezone

from flask import Blueprint, current_app, jsonify, request, send_file
from sqlalchemy import and_, or_, select, update
from werkzeug.exceptions import HTTPException

from admin.rest_api import auth, query
from admin.rest_api.limits import Decision, RateLimiter
from admin.rest_api.query import BadParameter
from admin.rest_api.spec import openapi_document
from admin.logins import client_key
from admin.times import admin_now
from pbx_daemon.crm import models as m
from pbx_daemon.crm.recordings import RecordingNameError, stored_path

PREFIX = "/api/v1"
bp = Blueprint("rest_api", __name__, url_prefix=PREFIX)

AUDIO_TYPES = {"wav": "audio/wav", "mp3": "audio/mpeg", "ogg": "audio/ogg", "gsm": "audio/x-gsm"}
MESSAGES = {
    "missing_token": "send Authorization: Bearer <token> (an admin creates tokens in Settings -> API tokens)",
    "invalid_token": "the token is not valid (unknown or revoked)",
    "insufficient_scope": "the token is not allowed to read this (ask an admin for the scope)",
    "token_rate": "too many requests with this token: wait Retry-After seconds",
    "address_rate": "too many requests with a missing or bad token from this address: wait Retry-After seconds",
}
LIMITS = "pbx_crm_api_limits"


@dataclass(frozen=True)
class Limits:
    """The app's limiters: ``tokens`` keyed by a token's id, ``addresses`` (401s) by a
    client address."""
    tokens: RateLimiter
    addresses: RateLimiter


@bp.record_once
def _make_limits(state) -> None:
    """One pair of limiters per app, on the app's clock and config (both set before the
    blueprint is registered: :func:`admin.app.create_app`)."""
    app = state.app
    clock, admin = app.extensions["pbx_crm_clock"], app.extensions["pbx_crm_config"].admin
    app.extensions[LIMITS] = Limits(RateLimiter(clock, per_minute=admin.api_rate_per_minute),
                                    RateLimiter(clock, per_minute=admin.api_auth_failures_per_minute))


def owns(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def error(status: int, code: str, message: str, parameter: str | None = None, headers=None):
    body = {"error": code, "message": message}
    if parameter is not None:
        body["parameter"] = parameter
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def http_error(e: HTTPException):
    """Routing and framework errors under /api/v1 as API errors, not admin pages."""
    code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed",
            413: "too_large", 416: "range_not_satisfiable"}.get(e.code or 500, "error")
    headers = {"Allow": ", ".join(e.valid_methods)} if getattr(e, "valid_methods", None) else None
    if e.code == 405 and headers is None:
        headers = {"Allow": "GET, HEAD, OPTIONS"}
    return error(e.code or 500, code, e.description or code, headers=headers)


def unexpected_error(e: Exception):
    if isinstance(e, HTTPException):
        return http_error(e)
    current_app.logger.exception("REST API error on %s %s", request.method, request.path)
    try:
        current_app.extensions["sqlalchemy"].session.rollback()
    except Exception:  # noqa: BLE001 - nothing more to do for a broken session
        pass
    return error(500, "internal_error", "the server could not answer; see its log")


def _session():
    return current_app.extensions["sqlalchemy"].session


def _too_many(decision: Decision, why: str):
    return error(429, "rate_limited", MESSAGES[why],
                 headers={"Retry-After": str(max(1, math.ceil(decision.retry_after)))})


def _authorize(scope: str):
    """``(None, headers)`` when the request's token reads ``scope`` (``headers``: its rate
    limit's, for the answer), else ``(the error response, {})``."""
    limits: Limits = current_app.extensions[LIMITS]
    address = client_key(request.remote_addr)
    barred = limits.addresses.check(address)
    if not barred.allowed:  # guessing tokens: not even a database lookup
        return _too_many(barred, "address_rate"), {}
    header = request.headers.get("Authorization")
    token = auth.presented_token(header)
    rows = []
    if token is not None:
        rows = [auth.TokenRow(r.id, r.token_hash, r.active, r.scope_set, r.last_used_at)
                for r in _session().scalars(select(m.ApiToken).where(
                    m.ApiToken.prefix == token[:auth.PREFIX_LENGTH]))]
    now = admin_now()
    decision = auth.authorize(header, rows, scope, now)
    if decision.status == 401:
        limits.addresses.take(address)
        return error(401, decision.error, MESSAGES[decision.error],
                     headers={"WWW-Authenticate": f'Bearer realm="pbx-crm", error="{decision.error}"'
                              if decision.error == "invalid_token" else 'Bearer realm="pbx-crm"'}), {}
    spent = limits.tokens.take(str(decision.token_id))  # a 403 counts too: the token asked
    if not spent.allowed:
        return _too_many(spent, "token_rate"), {}
    rate = {"RateLimit-Limit": str(spent.limit), "RateLimit-Remaining": str(spent.remaining)} \
        if limits.tokens.enabled else {}
    if decision.status == 403:
        return error(403, decision.error, MESSAGES[decision.error],
                     headers={"WWW-Authenticate": f'Bearer realm="pbx-crm", error="insufficient_scope", '
                                                  f'scope="{scope}"', **rate}), {}
    if decision.touch:  # at most once a minute per token, and never back in time
        s = _session()
        s.execute(update(m.ApiToken).where(
            m.ApiToken.id == decision.token_id,
            or_(m.ApiToken.last_used_at.is_(None), m.ApiToken.last_used_at < now)).values(last_used_at=now))
        s.commit()
    return None, rate


def needs(scope: str):
    """The view behind the token check for ``scope``, with BadParameter as a 400."""
    def wrap(view):
        @functools.wraps(view)
        def guarded(**kwargs):
            refused, rate = _authorize(scope)
            if refused is not None:
                return refused
            try:
                response = view(**kwargs)
            except BadParameter as e:
                response = error(400, "bad_parameter", e.message, parameter=e.parameter)
            if response.mimetype == "application/json":
                response.headers["Cache-Control"] = "no-store"
            response.headers.update(rate)
            return response
        return guarded
    return wrap


def _args() -> dict[str, list[str]]:
    return {name: request.args.getlist(name) for name in request.args}


# ---- serialising --------------------------------------------------------------------------
def _time(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat() if value is not None else None


def _person(employee: m.Employee | None):
    return {"id": employee.id, "name": employee.full_name} if employee is not None else None


def _names(rows, model, attr, label) -> dict[int, str]:
    """id -> name of ``model`` for every ``attr`` id in ``rows`` (one query per model)."""
    ids = {getattr(r, attr) for r in rows} - {None}
    if not ids:
        return {}
    column = getattr(model, label)
    return dict(_session().execute(select(model.id, column).where(model.id.in_(ids))).all())


CARD = (("company", m.Company, "company_id", "name"), ("contact", m.Contact, "contact_id", "full_name"),
        ("lead", m.Lead, "lead_id", "title"), ("deal", m.Deal, "deal_id", "title"))


def _cards(rows) -> list[dict]:
    """Each row's company, contact, lead and deal as ``{id, name}`` (or null)."""
    names = {kind: _names(rows, model, attr, label) for kind, model, attr, label in CARD}
    out = []
    for row in rows:
        out.append({kind: ({"id": getattr(row, attr), "name": names[kind].get(getattr(row, attr), "")}
                           if getattr(row, attr) is not None else None)
                    for kind, _, attr, _ in CARD})
    return out


def _employees(rows, *attrs) -> dict[int, m.Employee]:
    ids = {getattr(r, a) for r in rows for a in attrs} - {None}
    if not ids:
        return {}
    return {e.id: e for e in _session().scalars(select(m.Employee).where(m.Employee.id.in_(ids)))}


def _recording_ids(calls) -> dict[int, int]:
    ids = [c.id for c in calls]
    if not ids:
        return {}
    return dict(_session().execute(select(m.Recording.call_id, m.Recording.id)
                                   .where(m.Recording.call_id.in_(ids))).all())


def _calls_json(calls) -> list[dict]:
    people = _employees(calls, "employee_id", "answered_by_id")
    cards = _cards(calls)
    recordings = _recording_ids(calls)
    return [{
        "id": c.id, "linkedid": c.linkedid, "direction": c.direction, "outcome": c.outcome,
        "caller": c.caller, "caller_raw": c.caller_raw, "caller_name": c.caller_name,
        "callee": c.callee, "dialled_number": c.dialled_number,
        "started_at": _time(c.started_at), "answered_at": _time(c.answered_at), "ended_at": _time(c.ended_at),
        "duration_seconds": c.duration_seconds, "talk_seconds": c.talk_seconds,
        "disposition": c.disposition, "note": c.note,
        "employee": _person(people.get(c.employee_id)), "answered_by": _person(people.get(c.answered_by_id)),
        "department_id": c.department_id, "inquiry_id": c.inquiry_id,
        "recording_id": recordings.get(c.id), **card,
    } for c, card in zip(calls, cards)]


def _inquiries_json(rows) -> list[dict]:
    people = _employees(rows, "responsible_id")
    cards = _cards(rows)
    classes = {c.id: c for c in _session().scalars(select(m.InquiryClass))}
    subclasses = _names(rows, m.InquirySubclass, "subclass_id", "name")
    sources = _names(rows, m.Source, "source_id", "name")
    out = []
    for i, card in zip(rows, cards):
        cls = classes.get(i.class_id)
        out.append({
            "id": i.id, "channel": i.channel, "status": i.status,
            "class": {"code": cls.code, "name": cls.name} if cls is not None else None,
            "subclass": subclasses.get(i.subclass_id), "source": sources.get(i.source_id),
            "phone": i.phone, "phone_ext": i.phone_ext, "email": i.email, "name": i.name,
            "message": i.message, "missed_count": i.missed_count,
            "utm": {k: getattr(i, f"utm_{k}") for k in ("source", "medium", "campaign", "content", "term")},
            "responsible": _person(people.get(i.responsible_id)), "department_id": i.department_id,
            "created_at": _time(i.created_at), "first_seen_at": _time(i.first_seen_at),
            "last_seen_at": _time(i.last_seen_at), "closed_at": _time(i.closed_at), **card,
        })
    return out


def _recordings_json(rows) -> list[dict]:
    return [{"id": r.id, "call_id": r.call_id, "format": r.format, "size_bytes": r.size_bytes,
             "duration_seconds": r.duration_seconds, "created_at": _time(r.created_at),
             "audio_url": f"{PREFIX}/recordings/{r.id}/audio"} for r in rows]


# ---- lists --------------------------------------------------------------------------------
def _page(model, at_column, q: query.ListQuery, conditions, to_json):
    """One keyset page of ``model`` ordered by (``at_column``, id) within ``q``."""
    where = list(conditions)
    if q.since is not None:
        where.append(at_column >= q.since)
    if q.until is not None:
        where.append(at_column < q.until)
    if q.after is not None:
        at, row_id = q.after
        where.append(or_(at_column > at, and_(at_column == at, model.id > row_id)))
    rows = list(_session().scalars(select(model).where(*where).order_by(at_column, model.id).limit(q.limit + 1)))
    more, rows = len(rows) > q.limit, rows[:q.limit]
    last = rows[-1] if rows else None
    next_cursor = query.encode_cursor(getattr(last, at_column.key), last.id) if more and last else None
    return jsonify(items=to_json(rows), next_cursor=next_cursor, limit=q.limit)


@bp.get("/calls")
@needs("calls")
def list_calls():
    general = current_app.extensions["pbx_crm_config"].general
    q = query.parse_list(_args(), query.call_filters(general.default_region, general.default_area_code))
    f, where = q.filters, []
    if "direction" in f:
        where.append(m.Call.direction == f["direction"])
    if "outcome" in f:
        where.append(m.Call.outcome == f["outcome"])
    if "phone" in f:
        where.append(or_(m.Call.caller == f["phone"], m.Call.callee == f["phone"]))
    if "employee_id" in f:
        where.append(or_(m.Call.employee_id == f["employee_id"], m.Call.answered_by_id == f["employee_id"]))
    return _page(m.Call, m.Call.started_at, q, where, _calls_json)


@bp.get("/inquiries")
@needs("inquiries")
def list_inquiries():
    codes = {c.code: c.id for c in _session().scalars(select(m.InquiryClass))}
    q = query.parse_list(_args(), query.inquiry_filters(codes))
    f, where = q.filters, []
    if "status" in f:
        where.append(m.Inquiry.status == f["status"])
    if "class" in f:
        where.append(m.Inquiry.class_id == codes[f["class"]])
    return _page(m.Inquiry, m.Inquiry.created_at, q, where, _inquiries_json)


@bp.get("/recordings")
@needs("recordings")
def list_recordings():
    q = query.parse_list(_args(), query.recording_filters())
    where = [m.Recording.call_id == q.filters["call_id"]] if "call_id" in q.filters else []
    return _page(m.Recording, m.Recording.created_at, q, where, _recordings_json)


# ---- one row ------------------------------------------------------------------------------
def _one(model, row_id: int):
    """The row, or None for an id that is not there (ids past PostgreSQL's integer too)."""
    if request.args:
        name = sorted(request.args)[0]
        raise BadParameter(name, "unknown parameter (this endpoint takes none)")
    return _session().get(model, row_id) if 1 <= row_id <= query.MAX_ID else None


def _not_found(what: str):
    return error(404, "not_found", f"no {what} with this id")


@bp.get("/calls/<int:call_id>")
@needs("calls")
def get_call(call_id: int):
    call = _one(m.Call, call_id)
    return jsonify(_calls_json([call])[0]) if call is not None else _not_found("call")


@bp.get("/inquiries/<int:inquiry_id>")
@needs("inquiries")
def get_inquiry(inquiry_id: int):
    inquiry = _one(m.Inquiry, inquiry_id)
    return jsonify(_inquiries_json([inquiry])[0]) if inquiry is not None else _not_found("inquiry")


@bp.get("/recordings/<int:recording_id>")
@needs("recordings")
def get_recording(recording_id: int):
    recording = _one(m.Recording, recording_id)
    return jsonify(_recordings_json([recording])[0]) if recording is not None else _not_found("recording")


@bp.get("/recordings/<int:recording_id>/audio")
@needs("recordings")
def get_recording_audio(recording_id: int):
    """The file, streamed from the recordings store; a row whose path would leave the
    store, or whose file is gone, is a 404."""
    recording = _one(m.Recording, recording_id)
    if recording is None:
        return _not_found("recording")
    try:
        path = stored_path(current_app.extensions["pbx_crm_config"].recordings.dir, recording)
    except RecordingNameError:
        current_app.logger.warning("recording %s points outside the store", recording.id)
        return error(404, "not_found", "the recording's file is not in the store")
    if not path.is_file():
        return error(404, "not_found", "the recording's file is not in the store")
    fmt = (recording.format or "").lower()
    mimetype = AUDIO_TYPES.get(fmt) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    response = send_file(path, mimetype=mimetype, conditional=True, max_age=0,
                         download_name=f"call-{recording.call_id}.{path.suffix.lstrip('.') or 'bin'}")
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/openapi.json")
def openapi():
    codes = _session().scalars(select(m.InquiryClass.code)).all()
    return jsonify(openapi_document(codes))

