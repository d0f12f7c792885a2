"""An admin app with seeded calls, inquiries and recordings and three API tokens, for the
REST API's tests (tests/unit/test_rest_api*.py)."""

from __future__ import annotations

import wave
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from twisted.internet.task import Clock

from admin.app import create_app
from admin.rest_api import auth
from pbx_daemon.config import load_config
from pbx_daemon.crm import models as m
from pbx_daemon.db import seed_reference_data
from tests.unit.helpers import fast_hash

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
FULL, CALLS_ONLY, REVOKED = ("F" * 43, "C" * 43, "R" * 43)


@dataclass
class Seeded:
    app: object
    clock: Clock
    store: Path
    ids: dict

    def get(self, url: str, token: str | None = FULL, **kwargs):
        headers = kwargs.pop("headers", {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.app.test_client().get(url, headers=headers, **kwargs)


def _wav(path: Path, frames: int = 8000) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
        w.writeframes(b"\x01\x00" * frames)


# The REST API's rate limits high enough for a fixture shared by hundreds of requests at
# one moment of its clock (the limits have their own tests: test_rest_api_limits.py).
HIGH_LIMITS = {"PBX_CRM_ADMIN_API_RATE_PER_MINUTE": "100000", "PBX_CRM_ADMIN_API_AUTH_FAILURES_PER_MINUTE": "100000"}


def seeded_api(url: str, tmp_path: Path, env: dict[str, str] | None = None) -> Seeded:
    """The app on ``url`` (schema created) with: anna and boris (managers), root (admin),
    owner; a company, contact, lead and deal; 7 calls (three at the same minute), 4
    inquiries, 4 recordings (a good WAV, an MP3, one whose file is gone, one whose path
    leaves the store); tokens FULL (every scope), CALLS_ONLY and REVOKED. ``env``: more
    configuration (``PBX_CRM_ADMIN_...``), e.g. :data:`HIGH_LIMITS`."""
    store = tmp_path / "recordings"
    store.mkdir(exist_ok=True)
    clock = Clock()
    clock.advance(T0.timestamp() + 86400)
    app = create_app(load_config(None, {"PBX_CRM_DATABASE_URL": url, "PBX_CRM_ADMIN_SECRET_KEY": "s" * 40,
                                        "PBX_CRM_RECORDINGS_DIR": str(store), **(env or {})}), clock=clock)
    ids: dict = {}
    with app.app_context():
        s = app.extensions["sqlalchemy"].session
        m.Base.metadata.create_all(s.get_bind())
        seed_reference_data(s)
        people = {n: m.Employee(full_name=n.title(), login=n, role=r,
                                password_hash=fast_hash(f"{n}-Password-1"))
                  for n, r in (("anna", "manager"), ("boris", "manager"), ("root", "admin"), ("owner", "owner"))}
        s.add_all(people.values())
        s.flush()
        company = m.Company(name="Ромашка", responsible_id=people["anna"].id)
        s.add(company)
        s.flush()
        contact = m.Contact(full_name="Пётр Клиентов", company_id=company.id, responsible_id=people["anna"].id)
        lead = m.Lead(title="Новый лид", responsible_id=people["boris"].id)
        stage = s.query(m.DealStage).first()
        s.add_all([contact, lead])
        s.flush()
        deal = m.Deal(title="Поставка", company_id=company.id, stage_id=stage.id,
                      responsible_id=people["anna"].id)
        s.add(deal)
        s.flush()
        calls = [
            m.Call(linkedid="c1", direction="inbound", caller="+79161234567", callee="+74951110003",
                   started_at=T0, outcome="answered", answered_by_id=people["anna"].id,
                   company_id=company.id, contact_id=contact.id, deal_id=deal.id, talk_seconds=30),
            m.Call(linkedid="c2", direction="inbound", caller="+79260000002", started_at=T0 + timedelta(minutes=5),
                   outcome="missed", lead_id=lead.id),
            # three calls started at the same moment: pages must neither lose nor repeat them
            *(m.Call(linkedid=f"same{n}", direction="outbound", callee="+79161234567",
                     started_at=T0 + timedelta(minutes=10), outcome="no_answer",
                     employee_id=people["boris"].id) for n in range(3)),
            m.Call(linkedid="c6", direction="internal", started_at=T0 + timedelta(hours=2), outcome="answered"),
            m.Call(linkedid="c7", direction="inbound", caller="+79260000007", started_at=T0 + timedelta(days=1),
                   outcome="after_hours"),
        ]
        s.add_all(calls)
        s.flush()
        spam = s.query(m.InquiryClass).filter_by(code="spam").one()
        inquiries = [
            m.Inquiry(channel="call", phone="+79260000002", status="open", created_at=T0,
                      responsible_id=people["boris"].id, lead_id=lead.id),
            m.Inquiry(channel="web_form", email="a@example.com", name="Анна", status="closed",
                      class_id=spam.id, created_at=T0 + timedelta(minutes=1)),
            m.Inquiry(channel="call", phone="+79161234567", status="in_progress", created_at=T0 + timedelta(minutes=1),
                      company_id=company.id),
            m.Inquiry(channel="email", email="b@example.com", status="open", created_at=T0 + timedelta(days=2)),
        ]
        s.add_all(inquiries)
        _wav(store / "c1.wav")
        (store / "c2.mp3").write_bytes(b"ID3" + b"\x00" * 100)
        recordings = [
            m.Recording(call_id=calls[0].id, path="c1.wav", format="wav", size_bytes=(store / "c1.wav").stat().st_size,
                        duration_seconds=1.0, created_at=T0 + timedelta(minutes=1)),
            m.Recording(call_id=calls[1].id, path="c2.mp3", format="mp3", created_at=T0 + timedelta(minutes=6)),
            m.Recording(call_id=calls[2].id, path="gone.wav", created_at=T0 + timedelta(minutes=11)),
            m.Recording(call_id=calls[3].id, path=f"../{Path(url).name}", created_at=T0 + timedelta(minutes=11)),
        ]
        s.add_all(recordings)
        for token, scopes, active in ((FULL, "calls,inquiries,recordings", True), (CALLS_ONLY, "calls", True),
                                      (REVOKED, "calls,inquiries,recordings", False)):
            s.add(m.ApiToken(name=token[0], token_hash=auth.token_hash(token), prefix=token[:8], scopes=scopes,
                             active=active, created_by_id=people["root"].id))
        s.commit()
        ids.update(calls=[c.id for c in calls], inquiries=[i.id for i in inquiries],
                   recordings=[r.id for r in recordings], company=company.id, contact=contact.id, lead=lead.id,
                   deal=deal.id, people={n: p.id for n, p in people.items()})
    return Seeded(app, clock, store, ids)
