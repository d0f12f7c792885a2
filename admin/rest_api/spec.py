"""The OpenAPI 3.1 document of the REST API, written out by hand: it is the contract the
integrations code against, and the tests check every response against it
(``openapi-spec-validator``, ``schemathesis``). Change it together with
:mod:`admin.rest_api.http`.

The one thing filled in at request time: the inquiry class codes (``class`` filter), which
are the company's own reference data.
"""

from __future__ import annotations

from collections.abc import Sequence

from admin.rest_api.query import DEFAULT_LIMIT, MAX_ID, MAX_LIMIT
from pbx_daemon.crm import models as m

NULL_STRING = {"type": ["string", "null"]}
NULL_INT = {"type": ["integer", "null"]}
NULL_TIME = {"type": ["string", "null"], "format": "date-time"}
TIME = {"type": "string", "format": "date-time"}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(name: str) -> dict:
    return {"oneOf": [_ref(name), {"type": "null"}]}


def _obj(properties: dict, required: Sequence[str] | None = None) -> dict:
    return {"type": "object", "properties": properties,
            "required": list(required if required is not None else properties)}


SCHEMAS = {
    "Error": _obj({
        "error": {"type": "string", "description": "a code: bad_parameter, missing_token, invalid_token, "
                                                   "insufficient_scope, not_found, method_not_allowed, "
                                                   "rate_limited"},
        "message": {"type": "string", "description": "what was wrong, in English"},
        "parameter": {"type": "string", "description": "the query parameter at fault (400 only)"},
    }, required=["error", "message"]),
    "Named": _obj({"id": {"type": "integer"}, "name": {"type": "string"}}),
    "Call": _obj({
        "id": {"type": "integer"},
        "linkedid": {"type": "string", "description": "Asterisk's linkedid of the call"},
        "direction": {"type": "string", "enum": list(m.CALL_DIRECTIONS)},
        "outcome": {"type": "string", "enum": list(m.CALL_OUTCOMES)},
        "caller": {**NULL_STRING, "description": "E.164"},
        "caller_raw": {**NULL_STRING, "description": "the caller id as the trunk sent it"},
        "caller_name": NULL_STRING,
        "callee": {**NULL_STRING, "description": "E.164"},
        "dialled_number": NULL_STRING,
        "started_at": TIME, "answered_at": NULL_TIME, "ended_at": NULL_TIME,
        "duration_seconds": NULL_INT, "talk_seconds": NULL_INT,
        "disposition": NULL_STRING, "note": NULL_STRING,
        "employee": {**_nullable("Named"), "description": "the employee who placed the call (outbound)"},
        "answered_by": {**_nullable("Named"), "description": "the employee who answered"},
        "department_id": NULL_INT, "inquiry_id": NULL_INT,
        "recording_id": {**NULL_INT, "description": "GET /recordings/{id} for the file"},
        "company": _nullable("Named"), "contact": _nullable("Named"),
        "lead": _nullable("Named"), "deal": _nullable("Named"),
    }),
    "Inquiry": _obj({
        "id": {"type": "integer"},
        "channel": {"type": "string", "enum": list(m.INQUIRY_CHANNELS)},
        "status": {"type": "string", "enum": list(m.INQUIRY_STATUSES)},
        "class": {"oneOf": [_obj({"code": {"type": "string"}, "name": {"type": "string"}}), {"type": "null"}]},
        "subclass": NULL_STRING, "source": NULL_STRING,
        "phone": NULL_STRING, "phone_ext": NULL_STRING, "email": NULL_STRING, "name": NULL_STRING,
        "message": NULL_STRING, "missed_count": {"type": "integer"},
        "utm": _obj({k: NULL_STRING for k in ("source", "medium", "campaign", "content", "term")}),
        "responsible": _nullable("Named"), "department_id": NULL_INT,
        "created_at": TIME, "first_seen_at": TIME, "last_seen_at": TIME, "closed_at": NULL_TIME,
        "company": _nullable("Named"), "contact": _nullable("Named"),
        "lead": _nullable("Named"), "deal": _nullable("Named"),
    }),
    "Recording": _obj({
        "id": {"type": "integer"}, "call_id": {"type": "integer"},
        "format": {"type": "string", "description": "wav, mp3..."},
        "size_bytes": NULL_INT, "duration_seconds": {"type": ["number", "null"]},
        "created_at": TIME,
        "audio_url": {"type": "string", "description": "the path of the file: /api/v1/recordings/{id}/audio"},
    }),
}
for _name in ("Call", "Inquiry", "Recording"):
    SCHEMAS[f"{_name}Page"] = _obj({
        "items": {"type": "array", "items": _ref(_name)},
        "next_cursor": {**NULL_STRING, "description": "pass as cursor for the next page; null on the last"},
        "limit": {"type": "integer"},
    })


def _error(description: str, headers: dict | None = None) -> dict:
    response = {"description": description,
                "content": {"application/json": {"schema": _ref("Error")}}}
    if headers:
        response["headers"] = headers
    return response


RESPONSES = {
    "BadParameter": _error("A query parameter is wrong, unknown or given twice: `parameter` names it."),
    "Unauthorized": _error("No token, not a Bearer token, or a token that is unknown or revoked.",
                           {"WWW-Authenticate": {"schema": {"type": "string"},
                                                 "description": 'Bearer realm="pbx-crm"...'}}),
    "Forbidden": _error("The token lacks the scope of this endpoint."),
    "NotFound": _error("No row with this id."),
    "MethodNotAllowed": _error("Only GET (and HEAD) are served.",
                               {"Allow": {"schema": {"type": "string"}}}),
    "TooManyRequests": _error(
        "Too many requests: the token made more than the admin's limit a minute "
        "(`admin.api_rate_per_minute`), or this client address sent too many missing or bad "
        "tokens (`admin.api_auth_failures_per_minute`; then every request from it, whatever "
        "its token). Wait `Retry-After` seconds.",
        {"Retry-After": {"required": True, "schema": {"type": "integer", "minimum": 1},
                         "description": "seconds until a request would be allowed"}}),
}
RATE_HEADERS = {
    "RateLimit-Limit": {"schema": {"type": "integer", "minimum": 1},
                        "description": "requests the token may make at once (refilled over a minute); "
                                       "absent when the admin set no limit"},
    "RateLimit-Remaining": {"schema": {"type": "integer", "minimum": 0},
                            "description": "requests the token has left now"},
}


def _param(name: str, description: str, schema: dict, where: str = "query") -> dict:
    return {"name": name, "in": where, "required": where == "path", "description": description,
            "schema": schema}


ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
WINDOW = [
    _param("since", "rows from this time on (inclusive), RFC 3339 with an offset", TIME),
    _param("until", "rows before this time (exclusive), RFC 3339 with an offset", TIME),
    _param("limit", f"rows per page (default {DEFAULT_LIMIT})",
           {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}),
    _param("cursor", "next_cursor of the previous page", {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,200}$"}),
]


def _errors(*codes: str) -> dict:
    named = {"400": "BadParameter", "401": "Unauthorized", "403": "Forbidden", "404": "NotFound",
             "405": "MethodNotAllowed", "429": "TooManyRequests"}
    return {code: {"$ref": f"#/components/responses/{named[code]}"} for code in codes}


def _list(summary: str, scope: str, page: str, order: str, filters: list) -> dict:
    return {"get": {
        "summary": summary, "operationId": f"list_{scope}", "tags": [scope],
        "description": f"Ordered by {order}, then id; follow next_cursor for the next page. "
                       f"Needs the scope `{scope}`.",
        "parameters": WINDOW + filters,
        "responses": {"200": {"description": "one page", "headers": RATE_HEADERS,
                              "content": {"application/json": {"schema": _ref(page)}}},
                      **_errors("400", "401", "403", "405", "429")},
    }}


def _one(summary: str, scope: str, name: str, schema: dict | None, op: str) -> dict:
    content = {"application/json": {"schema": schema}} if schema else {
        media: {"schema": {"type": "string", "contentMediaType": media}}
        for media in ("audio/wav", "audio/mpeg", "audio/ogg", "application/octet-stream")}
    return {"get": {
        "summary": summary, "operationId": op, "tags": [scope],
        "description": f"Needs the scope `{scope}`.",
        "parameters": [_param(name, "the id", ID, "path")],
        "responses": {"200": {"description": summary, "headers": RATE_HEADERS, "content": content},
                      **_errors("400", "401", "403", "404", "405", "429")},
    }}


def openapi_document(class_codes: Sequence[str] = ()) -> dict:
    """The document; ``class_codes``: the inquiry classes the ``class`` filter accepts."""
    class_schema = {"type": "string", "enum": sorted(class_codes)} if class_codes else {"type": "string"}
    audio = _one("A recording's audio file (Range requests work)", "recordings", "recording_id", None,
                 "get_recording_audio")
    audio["get"]["responses"]["206"] = {"description": "part of the file (a Range request)"}
    audio["get"]["responses"]["416"] = _error("The Range is outside the file.")
    return {
        "openapi": "3.1.0",
        "info": {"title": "pbx-crm REST API", "version": "1.0.0",
                 "description": "Read-only access for integrations (CRM connectors, 1C, BI) to calls, "
                                "inquiries and recordings. Send `Authorization: Bearer <token>`; an "
                                "admin creates a token per integration in Settings -> API tokens, "
                                "with the scopes it may read. Times are UTC in RFC 3339."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": {
            "/calls": _list("Calls", "calls", "CallPage", "started_at", [
                _param("direction", "only this direction", {"type": "string", "enum": list(m.CALL_DIRECTIONS)}),
                _param("outcome", "only this outcome", {"type": "string", "enum": list(m.CALL_OUTCOMES)}),
                _param("phone", "calls from or to this number (any form the CRM normalises, "
                                "e.g. +79161234567 or 8 916 123-45-67)", {"type": "string"}),
                _param("employee_id", "calls placed or answered by this employee", ID),
            ]),
            "/calls/{call_id}": _one("A call", "calls", "call_id", _ref("Call"), "get_call"),
            "/inquiries": _list("Inquiries", "inquiries", "InquiryPage", "created_at", [
                _param("status", "only this status", {"type": "string", "enum": list(m.INQUIRY_STATUSES)}),
                _param("class", "only this inquiry class (its code)", class_schema),
            ]),
            "/inquiries/{inquiry_id}": _one("An inquiry", "inquiries", "inquiry_id", _ref("Inquiry"),
                                            "get_inquiry"),
            "/recordings": _list("Recordings (metadata)", "recordings", "RecordingPage", "created_at", [
                _param("call_id", "the recording of this call", ID),
            ]),
            "/recordings/{recording_id}": _one("A recording's metadata", "recordings", "recording_id",
                                               _ref("Recording"), "get_recording"),
            "/recordings/{recording_id}/audio": audio,
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "a token made in the admin (shown once)"}},
            "schemas": SCHEMAS,
            "responses": RESPONSES,
        },
    }
