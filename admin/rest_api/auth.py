"""API tokens: making one, and deciding whether a request's ``Authorization`` header
lets it read a scope. Pure: the adapter fetches the rows with the token's prefix first.

A token is 32 random bytes in base64url (43 characters). The database keeps its SHA-256
(hex) and its first 8 characters (``prefix``, to find the row and to name it in the
admin); the token itself is shown once. Hashes are compared in constant time.

========================================  ======  ==========================================
the request                               status  why
========================================  ======  ==========================================
no Authorization header                   401     ``missing_token``
not ``Bearer <token>``                    401     ``invalid_token``
no active row with the token's hash       401     ``invalid_token`` (unknown and revoked
                                                  alike: the answer tells nothing more)
an active token without the scope         403     ``insufficient_scope``
an active token with the scope            200     ``last_used_at`` written when it is unset
                                                  or older than :data:`TOUCH_EVERY`
========================================  ======  ==========================================
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

PREFIX_LENGTH = 8
TOUCH_EVERY = timedelta(minutes=1)
_BEARER = re.compile(r"^Bearer +([A-Za-z0-9_-]{16,128})$", re.IGNORECASE)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def presented_token(header: str | None) -> str | None:
    """The token of ``Authorization: Bearer <token>``, or None when there is none."""
    match = _BEARER.match((header or "").strip())
    return match.group(1) if match else None


@dataclass(frozen=True)
class TokenRow:
    id: int
    token_hash: str
    active: bool
    scopes: frozenset[str]
    last_used_at: datetime | None


@dataclass(frozen=True)
class AuthDecision:
    status: int  # 200, 401, 403
    error: str | None = None  # missing_token | invalid_token | insufficient_scope
    token_id: int | None = None
    touch: bool = False  # write last_used_at = now


def authorize(header: str | None, rows: Iterable[TokenRow], scope: str, now: datetime) -> AuthDecision:
    """What a request with ``header`` may do with ``scope``; ``rows``: the tokens whose
    prefix is the presented token's (see the module's table)."""
    if not (header or "").strip():
        return AuthDecision(401, "missing_token")
    token = presented_token(header)
    if token is None:
        return AuthDecision(401, "invalid_token")
    digest = token_hash(token)
    match = None
    for row in rows:  # every candidate compared, in constant time each
        if hmac.compare_digest(row.token_hash, digest) and row.active:
            match = row
    if match is None:
        return AuthDecision(401, "invalid_token")
    if scope not in match.scopes:
        return AuthDecision(403, "insufficient_scope", match.id)
    touch = match.last_used_at is None or now - match.last_used_at >= TOUCH_EVERY
    return AuthDecision(200, None, match.id, touch)
