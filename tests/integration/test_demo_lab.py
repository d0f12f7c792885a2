"""The README's demo: seed data, then the scripted burst of real calls through the lab;
the analytics' Lost Call Rate is what the script implies (6 inbound, 2 missed, 1 called back)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from pbx_daemon.crm.stats import analytics
from pbx_daemon.crm.stats import rollup as call_stats
from pbx_daemon import db
from pbx_daemon.crm import models as m
from pbx_daemon.lab.demo import UNKNOWN, burst, seed
from pbx_daemon.lab import Lab
from tests.integration.conftest import TEST_API_PORT, TEST_API_TOKEN, running_daemon

pytestmark = pytest.mark.lab


def test_demo_burst_lost_call_rate_is_what_the_script_implies(lab: Lab, tmp_path):
    url = f"sqlite:///{tmp_path}/pbx.sqlite3"
    db.upgrade(url)
    sessions = db.make_session_factory(db.make_engine(url))
    with sessions() as s:
        people = seed(s, "demo-Password-1")
    # The daemon keeps the analytics rollup itself: every second here, every minute by default.
    with running_daemon(lab, tmp_path, url, extra="\n[report]\nstats_refresh_interval = 1\n"):
        implied = burst(lab, api_url=f"http://127.0.0.1:{TEST_API_PORT}", api_token=TEST_API_TOKEN,
                        log=lambda line: print(line))

        def stored():
            with sessions() as s:
                calls = s.scalars(select(m.Call)).all()
                # Every call ended, every answered one with its recording (the transfer's,
                # the last call, is attached a moment after the burst returns).
                return len(calls) == 8 and all(c.outcome != "in_progress" for c in calls) \
                    and all(c.recording is not None for c in calls if c.outcome == "answered")
        lab.wait_for(stored, 20, "the eight demo calls to be stored with their recordings")

        def rolled_up():
            with sessions() as s:
                waiting = s.scalar(select(func.count()).select_from(m.CallStatDirty))
                summed = s.scalar(select(func.sum(m.CallStat.calls)).where(
                    m.CallStat.kind.notin_(("rang_missed", "transfer"))))
                return waiting == 0 and summed == 8
        lab.wait_for(rolled_up, 10, "the daemon to roll the eight calls up")
    today = datetime.now(ZoneInfo("Europe/Moscow")).date()
    with sessions() as s:
        assert call_stats.stale_days(s, today, today, "Europe/Moscow") == []  # nothing left to rebuild
        days = analytics.lost_call_rate(s, today - timedelta(days=1), today, "Europe/Moscow",
                                        recovered_within_minutes=60)
        inbound, missed, recovered = (sum(d.inbound for d in days), sum(d.missed for d in days),
                                      sum(d.recovered for d in days))
        # On a failure, say how each call went, step by step.
        def since(c, at):
            return None if at is None else round((at - c.started_at).total_seconds(), 1)
        story = [(c.caller or c.callee, c.direction, c.outcome, since(c, c.ended_at),
                  [(leg.step, leg.endpoint, leg.outcome, since(c, leg.ringing_at),
                    since(c, leg.answered_at), since(c, leg.ended_at)) for leg in c.legs])
                 for c in s.scalars(select(m.Call).order_by(m.Call.started_at))]
        assert (implied.inbound, implied.missed, implied.recovered) == (6, 2, 1)
        assert (inbound, missed, recovered) == (6, 2, 1), story
        calls = {c.caller or c.callee: c for c in s.scalars(select(m.Call).where(m.Call.direction == "inbound"))}
        assert calls["+79162223344"].answered_by_id == people["anna"]  # escalated past Boris
        assert [c.legs[0].endpoint for c in [calls["+79162223344"]]] == ["PJSIP/102"]
        inquiries = s.scalars(select(m.Inquiry).order_by(m.Inquiry.phone)).all()
        # Two missed numbers, and the third (answered by Anna: in her queue, no task).
        assert [i.phone for i in inquiries] == list(UNKNOWN)
        assert (inquiries[2].responsible_id, inquiries[2].missed_count) == (people["anna"], 0)
        tasks = s.scalars(select(m.Task).where(m.Task.inquiry_id.in_([i.id for i in inquiries]))).all()
        assert sorted(t.status for t in tasks) == ["done", "open"]
        # The desk-phone call: keyed "8 (916) 222-33-44" on 101, stored as Anna's outbound call
        # to +79162223344 on АО Вектор's card, answered and recorded.
        desk = s.scalars(select(m.Call).where(m.Call.direction == "outbound",
                                              m.Call.callee == "+79162223344")).one()
        assert (desk.employee_id, desk.outcome) == (people["anna"], "answered")
        assert desk.company_id is not None and desk.company_id == calls["+79162223344"].company_id
        # The transfer: ООО Ромашка's second call, one call with Anna's part and Boris's.
        moved = s.scalars(select(m.Call).join(m.CallLeg).where(
            m.CallLeg.step == m.TRANSFER_STEP)).one()
        assert (moved.caller, moved.answered_by_id, moved.outcome) == \
            ("+79161234567", people["anna"], "answered")
        parts = sorted((leg.answered_at, leg.employee_id) for leg in moved.legs if leg.answered_at)
        assert [who for _, who in parts] == [people["anna"], people["boris"]]
        assert moved.recording is not None

    # The owner opens Analytics in a real browser: today's row says what the script implies.
    from selenium.webdriver.common.by import By

    from tests.integration.browser import chromium, login, running_admin, screenshot, wait

    with running_admin(tmp_path, url) as base, chromium() as driver:
        login(driver, base, "oleg", "demo-Password-1")
        driver.get(f"{base}/admin/analytics/?from={today - timedelta(days=1)}&to={today}")
        rows = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#lcr tr"), 10, "the Lost Call Rate table")
        days = {cells[0]: cells for cells in ([c.text for c in r.find_elements(By.TAG_NAME, "td")] for r in rows)
                if cells}
        cells = days[today.strftime("%d.%m")]  # today's row (the last row is the totals)
        assert cells[:4] == [today.strftime("%d.%m"), "6", "2", "33,3 %"], cells
        assert cells[5].startswith("1 (50,0 %)"), cells
        assert "Доля потерянных звонков" in driver.page_source  # Russian by default
        screenshot(driver, "analytics-demo-day")
        # The CSV export of the same table, through the browser's session cookie.
        csv_text = driver.execute_script(
            "return fetch(arguments[0], {credentials: 'same-origin'}).then(r => r.text())",
            f"{base}/admin/analytics/?from={today}&to={today}&export=lcr")
        # For Russian Excel: ";", decimal comma, shares in per cent, a totals row.
        lines = csv_text.splitlines()
        assert lines[1] == f"{today.strftime('%d.%m.%Y')};6;2;33,33;1;50,00;0;0", csv_text
        assert lines[2] == "Итого;6;2;33,33;1;50,00;0;0", csv_text
