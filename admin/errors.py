"""Errors as pages: in the admin's own layout and the page's language, with a way back
(the page the user came from when it is ours, else the home page); JSON for the pages'
own scripts. A form posted from a tab whose session is over (logged out, expired) leads
to the login page with a message instead of "The CSRF tokens do not match".

:func:`admin.app.create_app` registers :func:`handle_http_error` and
:func:`handle_csrf_error`; this module only decides what they answer.
"""

from __future__ import annotations

from flask import current_app, flash, g, jsonify, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException, InternalServerError

from admin.logins import safe_next

# The endpoints that scripts call and that answer JSON.
JSON_PREFIXES = ("/api/", "/click-to-call", "/screen-pop/")


def messages() -> dict[int, tuple[str, str]]:
    """status -> (title, what to do), in the page's language."""
    return {
        400: (_("The request was not understood"),
              _("The page sent something the server cannot use. Go back, reload the page and try again.")),
        401: (_("Please log in"), _("This page is for logged-in employees.")),
        403: (_("No access"),
              _("This page or record belongs to someone else's work: your role does not open it.")),
        404: (_("Not found"), _("There is no such page or record: it may have been deleted.")),
        405: (_("Not allowed"), _("This address does not take that kind of request.")),
        413: (_("Too large"), _("The file or form is larger than the server accepts. Split the file or send less.")),
        429: (_("Too many requests"), _("Wait a minute and try again.")),
        500: (_("Something went wrong"),
              _("The server could not finish this request. Try again; if it happens again, tell the administrator.")),
        503: (_("Temporarily unavailable"), _("The service is unavailable right now. Try again later.")),
    }


def _wants_json() -> bool:
    return request.path.startswith(JSON_PREFIXES) and request.path != "/screen-pop" or request.is_json


def _back() -> str:
    """Where "Back" leads: the referring page when it is one of ours, else home."""
    referrer = request.referrer or ""
    if referrer.startswith(request.host_url):
        path = safe_next("/" + referrer[len(request.host_url):])
        if path and path != request.full_path.rstrip("?"):
            return path
    return url_for("admin.index")


def render_error(status: int):
    table = messages()
    title, message = table.get(status, table[500] if status >= 500 else table[400])
    if _wants_json():
        return jsonify(error=f"{title}. {message}"), status
    context = dict(status=status, title=title, message=message, back=_back())
    try:
        admin = current_app.extensions["admin"][0]
        page = admin.index_view.render("error.html", **context)
    except Exception:  # noqa: BLE001 - the layout itself failed (the database is away...)
        current_app.logger.exception("the error page's layout failed; a plain page instead")
        page = render_template("error_plain.html", **context)
    return page, status


def handle_http_error(error: HTTPException):
    if error.code is None or error.code < 400:
        return error
    if error.code == 500 or isinstance(error, InternalServerError):
        _rollback()
    return render_error(error.code)


def handle_unexpected(error: Exception):
    """An exception nothing caught: logged with its traceback, a 500 page for the user."""
    if isinstance(error, HTTPException):
        return handle_http_error(error)
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    _rollback()
    return render_error(500)


def handle_csrf_error(error, load_user):
    """A form without a valid CSRF token. No session any more (logged out in this or another
    tab, session over): to the login page, with a message, back to where they were. A live
    session (a page kept open across a restart with a new secret, a stale form): the 400
    page asking to reload."""
    load_user()  # CSRF is checked before the admin loads the user: load it here
    if _wants_json():
        return jsonify(error=_("The page is out of date: reload it (or log in again).")), 400
    if g.get("user") is None:
        flash(_("Your session has ended: log in again and repeat the action."), "warning")
        back = _back()
        return current_app.redirect(url_for("login", next=back) if back != url_for("admin.index")
                                    else url_for("login"))
    flash(_("The form was out of date: it was not saved. Try again."), "warning")
    return render_error(400)


def _rollback():
    try:
        current_app.extensions["sqlalchemy"].session.rollback()
    except Exception:  # noqa: BLE001 - nothing more to do for a broken session
        pass
