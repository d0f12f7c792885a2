"""Calls in the admin: recordings (behind the login and the access rules) and
click-to-call through the daemon's API.

    GET  /calls/<id>/recording           the file (Range requests work: HTML5 players seek)
    GET  /cards/<kind>/<id>/calls        moved: redirects to the card, /admin/card/<kind>/<id>
    POST /click-to-call                  number, card_kind, card_id (CSRF) -> JSON
    POST /calls/<id>/new-lead            (CSRF) a lead for the call's number, on no card
                                         yet; redirects to the lead's card
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, g, jsonify, redirect, request, url_for
from flask_babel import gettext as _

from admin.access import CARD_MODELS, can_see_call, can_see_card
from admin.views import OFFICE
from pbx_daemon.crm import models as m
from pbx_daemon.crm.funnel import FunnelError, lead_from_call
from pbx_daemon.telephony.api_client import ClickToCallError, click_to_call
from pbx_daemon.config import api_base_url
from pbx_daemon.crm.recordings import RecordingNameError, stored_path

bp = Blueprint("calls", __name__)


def _session():
    return current_app.extensions["sqlalchemy"].session


def _config():
    return current_app.extensions["pbx_crm_config"]


def _need_login():
    if g.get("user") is None:
        if request.method == "GET" and not request.path.startswith("/click-to-call"):
            return redirect(url_for("login", next=request.full_path))
        abort(401)
    return None


def click_to_call_message(status: int) -> str:
    """What a refused click-to-call says to the person who clicked, by the daemon's status."""
    messages = {
        400: _("This number cannot be called: check it."),
        403: _("This number is on the blocklist."),
        404: _("The employee or the card was not found."),
        409: _("Calling is not possible right now: you are on a call, or no phone is set up for you."),
        503: _("Telephony is unavailable, try again later."),
    }
    return messages.get(status, messages[503])


@bp.route("/calls/<int:call_id>/recording")
def recording(call_id: int):
    if (r := _need_login()) is not None:
        return r
    session = _session()
    call = session.get(m.Call, call_id)
    if call is None:
        abort(404)
    if not can_see_call(session, g.user, call):
        abort(403)  # another manager's client: seed 001, recordings included
    if call.recording is None:
        abort(404)
    try:
        path = stored_path(_config().recordings.dir, call.recording)
    except RecordingNameError:
        abort(404)
    if not path.is_file():
        abort(404)
    from flask import send_file

    response = send_file(path, mimetype="audio/wav" if call.recording.format == "wav"
                         else "application/octet-stream", conditional=True,
                         download_name=f"call-{call.id}.{call.recording.format}",
                         as_attachment=request.args.get("download") == "1", max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/calls/<int:call_id>/new-lead", methods=["POST"])
def new_lead(call_id: int):
    """The "new lead" button of a call row whose number is on no card (an outbound call to
    a new number creates nothing by itself): one click, the clicking employee responsible."""
    if (r := _need_login()) is not None:
        return r
    if g.user.role not in OFFICE:
        abort(403)
    session = _session()
    call = session.get(m.Call, call_id)
    if call is None:
        abort(404)
    if not can_see_call(session, g.user, call):
        abort(403)
    try:
        result = lead_from_call(session, call, by=g.user)
    except FunnelError as e:
        session.rollback()
        flash(str(e), "error")
        return redirect(request.referrer or url_for("call.index_view"))
    session.commit()
    if result.created:
        flash(_("Lead #%(lead)s created for the call.", lead=result.id), "success")
    else:
        flash(_("This number is on a card already: the call is linked to it."), "info")
    return redirect(url_for("card.show", kind=result.kind, card_id=result.id))


@bp.route("/cards/<kind>/<int:card_id>/calls")
def card_calls(kind: str, card_id: int):
    """The first, calls-only card page; the full card (calls with players, tasks, deals)
    replaced it. Old links land there, which applies the same access rules."""
    if (r := _need_login()) is not None:
        return r
    if kind not in CARD_MODELS:
        abort(404)
    return redirect(url_for("card.show", kind=kind, card_id=card_id), 301)


@bp.route("/click-to-call", methods=["POST"])
def start_click_to_call():
    if (r := _need_login()) is not None:
        return r
    number = request.form.get("number", "")
    card = None
    kind, card_id = request.form.get("card_kind"), request.form.get("card_id", "")
    kinds = {**CARD_MODELS, "call_list_entry": m.CallListEntry}
    if kind:
        if kind not in kinds or not card_id.isdigit():
            return jsonify(error=_("The card to call from is not named correctly.")), 400
        card_row = _session().get(kinds[kind], int(card_id))
        if card_row is None or not can_see_card(_session(), g.user, card_row):
            return jsonify(error=_("No such card.")), 404
        card = {"kind": kind, "id": int(card_id)}
    config = _config()
    try:
        result = click_to_call(api_base_url(config), config.api.token, employee=g.user.id,
                               number=number, card=card)
    except ClickToCallError as e:
        # The daemon's reason is for the log; the person who clicked reads Russian.
        current_app.logger.warning("click-to-call refused (%s): %s", e.status, e.message)
        return jsonify(error=click_to_call_message(e.status), detail=e.message), e.status
    return jsonify(result), 202
