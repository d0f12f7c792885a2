"""Browser notifications on every admin page (issue 18): what ``static/notify.js`` asks for.

    GET /notifications/due     {"reminders": [{"key", "id", "title", "comment", "time",
                                               "minutes", "url"}]}

The logged-in employee's own planned calls whose reminder is due now
(:mod:`pbx_daemon.crm.reminders`), whatever their role: nobody gets another's reminders.
"Now" is the admin's clock (``create_app(clock=...)``: the reactor when served, a test's
clock in tests). Ringing calls and escalations come over the screen-pop stream
(:mod:`admin.stream`), not from here.
"""

from __future__ import annotations


from flask import Blueprint, abort, current_app, g, jsonify, url_for

from admin.times import admin_now, in_company_time
from pbx_daemon.crm.reminders import due_reminders, planned_calls

bp = Blueprint("notify", __name__)


@bp.route("/notifications/due")
def due():
    if g.get("user") is None:
        abort(401)
    now = admin_now()
    session = current_app.extensions["sqlalchemy"].session
    reminders = due_reminders(planned_calls(session, g.user.id, now), now)
    response = jsonify(reminders=[
        {"key": r.key, "id": r.task_id, "title": r.title, "comment": r.comment,
         "time": in_company_time(r.deadline).strftime("%H:%M"),
         "minutes": int((r.deadline - now).total_seconds() // 60),
         "url": url_for("task.edit_view", id=r.task_id)}
        for r in reminders])
    response.headers["Cache-Control"] = "no-store"
    return response
