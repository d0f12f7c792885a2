"""The owner's daily report (seed 004: the Lost Call Rate first).

``build_daily`` fetches a day's figures (:mod:`pbx_daemon.crm.stats.analytics`): yesterday's
for the cron job; any day's, or one department's part, for the admin's page
(``/admin/analytics/day``). The renderers turn them into plain text and HTML (Jinja2, autoescaped), ``send_mail`` delivers both as
one multipart e-mail over SMTP (``[report]`` in the config). ``pbx-crm report daily``
wires them for a cron job.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from datetime import date
from email.message import EmailMessage

from jinja2 import Environment
from sqlalchemy.orm import Session

from pbx_daemon.crm.stats import analytics as a


@dataclass(frozen=True)
class DailyReport:
    day: date
    lost: a.LostCallDay
    recovered_within_minutes: int
    departments: list[a.DepartmentFigures]
    employees: list[a.EmployeeFigures]
    sources: list[a.SourceFigures]
    operators: list[a.OperatorFigures]


def build_daily(session: Session, day: date, tz: str, recovered_within_minutes: int = 60, *,
                department_id: int | None = None) -> DailyReport:
    """``department_id``: that department's part only (a head's view in the admin), with
    the same scoping as the analytics page: its calls, employees, inquiries, operators."""
    (lost,) = a.lost_call_rate(session, day, day, tz, recovered_within_minutes=recovered_within_minutes,
                               department_id=department_id)
    departments = [d for d in a.per_department(session, day, day, tz)
                   if department_id is None or d.department_id == department_id]
    return DailyReport(day, lost, recovered_within_minutes, departments,
                       a.per_employee(session, day, day, tz, department_id),
                       a.per_source(session, day, day, tz, department_id),
                       a.per_operator(session, day, day, tz, department_id))


def _pct(x: float) -> str:
    return f"{x * 100:.1f} %"


def render_text(r: DailyReport) -> str:
    lines = [f"pbx-crm: day report for {r.day:%d.%m.%Y}", "",
             f"LOST CALL RATE: {_pct(r.lost.rate)}  ({r.lost.missed} missed of {r.lost.inbound} inbound; "
             f"{r.lost.recovered} called back within {r.recovered_within_minutes} min = "
             f"{_pct(r.lost.recovered_share)} of the missed)",
             f"AFTER HOURS: {r.lost.after_hours} calls, {r.lost.voicemail} voicemails "
             "(not in the Lost Call Rate)", ""]
    lines.append("Departments: inbound / answered / missed / lost rate / outbound / minutes / avg s / deals "
                 "/ deals per call / after hours / voicemails")
    for d in r.departments:
        lines.append(f"  {d.name:<24} {d.calls_in:>5} {d.answered:>5} {d.missed:>5} {_pct(d.lost_rate):>8} "
                     f"{d.calls_out:>5} {d.minutes:>7} {d.avg_seconds:>6} {d.deals:>4} {d.deals_per_call:>5.2f} "
                     f"{d.after_hours:>5} {d.voicemail:>5}")
    lines += ["", "Employees: in / out / answered / missed / minutes / avg s / deals / deals per call"]
    for e in r.employees:
        lines.append(f"  {e.name:<24} {e.calls_in:>4} {e.calls_out:>4} {e.answered:>4} {e.missed:>4} "
                     f"{e.minutes:>7} {e.avg_seconds:>6} {e.deals:>4} {e.deals_per_call:>5.2f}")
    lines += ["", "Inquiries per source: inquiries / spam / into the funnel"]
    for s in r.sources:
        lines.append(f"  {s.source:<24} {s.inquiries:>5} {_pct(s.spam_share):>8} {_pct(s.funnel_share):>8}")
    if r.operators:
        lines += ["", "Cold calling: calls / minutes / entries worked / leads / deals / conversion"]
        for o in r.operators:
            lines.append(f"  {o.name:<24} {o.calls:>5} {o.minutes:>7} {o.entries_worked:>5} {o.leads:>4} "
                         f"{o.deals:>4} {_pct(o.conversion):>8}")
    return "\n".join(lines) + "\n"


_HTML = Environment(autoescape=True).from_string("""<!doctype html>
<html><head><meta charset="utf-8"><title>pbx-crm {{ r.day.strftime('%d.%m.%Y') }}</title>
<style>body{font-family:sans-serif}table{border-collapse:collapse;margin-bottom:1em}
td,th{padding:.2em .6em;border-bottom:1px solid #ddd;text-align:right}td:first-child,th:first-child{text-align:left}
.lcr{font-size:1.6em;font-weight:bold}</style></head><body>
<h2>Day report for {{ r.day.strftime('%d.%m.%Y') }}</h2>
<p class="lcr" id="lcr">Lost Call Rate: {{ pct(r.lost.rate) }}</p>
<p>{{ r.lost.missed }} missed of {{ r.lost.inbound }} inbound; {{ r.lost.recovered }} called back within
{{ r.recovered_within_minutes }} min ({{ pct(r.lost.recovered_share) }} of the missed).</p>
<p id="after-hours">After hours: {{ r.lost.after_hours }} calls, {{ r.lost.voicemail }} voicemails (not in the Lost Call Rate).</p>
<h3>Departments</h3><table><tr><th>Department</th><th>Inbound</th><th>Answered</th><th>Missed</th><th>Lost rate</th><th>Outbound</th><th>Minutes</th><th>Avg s</th><th>Deals</th><th>Deals per call</th><th>After hours</th><th>Voicemails</th></tr>
{% for d in r.departments %}<tr><td>{{ d.name }}</td><td>{{ d.calls_in }}</td><td>{{ d.answered }}</td><td>{{ d.missed }}</td><td>{{ pct(d.lost_rate) }}</td><td>{{ d.calls_out }}</td><td>{{ d.minutes }}</td><td>{{ d.avg_seconds }}</td><td>{{ d.deals }}</td><td>{{ '%.2f'|format(d.deals_per_call) }}</td><td>{{ d.after_hours }}</td><td>{{ d.voicemail }}</td></tr>{% endfor %}</table>
<h3>Employees</h3><table><tr><th>Employee</th><th>In</th><th>Out</th><th>Answered</th><th>Missed</th><th>Minutes</th><th>Avg s</th><th>Deals</th><th>Deals per call</th></tr>
{% for e in r.employees %}<tr><td>{{ e.name }}</td><td>{{ e.calls_in }}</td><td>{{ e.calls_out }}</td><td>{{ e.answered }}</td><td>{{ e.missed }}</td><td>{{ e.minutes }}</td><td>{{ e.avg_seconds }}</td><td>{{ e.deals }}</td><td>{{ '%.2f'|format(e.deals_per_call) }}</td></tr>{% endfor %}</table>
<h3>Inquiries per source</h3><table><tr><th>Source</th><th>Inquiries</th><th>Spam</th><th>Into the funnel</th></tr>
{% for s in r.sources %}<tr><td>{{ s.source }}</td><td>{{ s.inquiries }}</td><td>{{ pct(s.spam_share) }}</td><td>{{ pct(s.funnel_share) }}</td></tr>{% endfor %}</table>
{% if r.operators %}<h3>Cold calling</h3><table><tr><th>Operator</th><th>Calls</th><th>Minutes</th><th>Entries</th><th>Leads</th><th>Deals</th><th>Conversion</th></tr>
{% for o in r.operators %}<tr><td>{{ o.name }}</td><td>{{ o.calls }}</td><td>{{ o.minutes }}</td><td>{{ o.entries_worked }}</td><td>{{ o.leads }}</td><td>{{ o.deals }}</td><td>{{ pct(o.conversion) }}</td></tr>{% endfor %}</table>{% endif %}
</body></html>
""")


def render_html(r: DailyReport) -> str:
    return _HTML.render(r=r, pct=_pct)


def send_mail(report: DailyReport, *, host: str, port: int, starttls: bool, user: str, password: str,
              sender: str, recipients: list[str], timeout: float = 30.0) -> None:
    message = EmailMessage()
    message["Subject"] = (f"pbx-crm {report.day:%d.%m.%Y}: Lost Call Rate {_pct(report.lost.rate)}")
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message.set_content(render_text(report))
    message.add_alternative(render_html(report), subtype="html")
    smtp_send(message, host=host, port=port, starttls=starttls, user=user, password=password,
              timeout=timeout)


def smtp_send(message: EmailMessage, *, host: str, port: int, starttls: bool, user: str, password: str,
              timeout: float = 30.0) -> None:
    """Send ``message`` through the company's SMTP server (the ``report.smtp_*`` settings):
    the daily report and the outbox's e-mails (:mod:`pbx_daemon.crm.outbox`: escalations)."""
    with smtplib.SMTP(host, port, timeout=timeout) as smtp:
        if starttls:
            smtp.starttls(context=ssl.create_default_context())
        if user:
            smtp.login(user, password)
        smtp.send_message(message)
