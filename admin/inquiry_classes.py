"""Inquiry classes in the admin: custom classes come and go; the system ones (seed 003:
Lead, Spam, Client...) stay as they are. The rules find a class by its ``code`` (Spam
blocking, the funnel, source quality), so a system class's code, names and system flag are
read-only and it cannot be deleted; its position in the list may change. The checks are on
the server: a crafted POST is refused with the same message the form shows."""

from __future__ import annotations

from flask_babel import gettext
from sqlalchemy import inspect as sa_inspect
from wtforms.validators import ValidationError

from admin.views import ReferenceView

LOCKED = ("code", "name", "name_ru", "is_system")


class InquiryClassView(ReferenceView):
    column_list = ("position", "code", "name", "name_ru", "is_system")
    column_default_sort = "position"
    # Only the seeds make system classes: a class made here is always the company's own.
    form_excluded_columns = ("is_system",)

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        if obj is not None and obj.is_system:
            for name in LOCKED:
                field = getattr(form, name, None)
                if field is not None:
                    field.render_kw = {**(field.render_kw or {}), "readonly": True}
                    field.description = gettext("A system class: the rules know it by this; it cannot change.")
        return form

    def on_model_change(self, form, model, is_created):
        if is_created:
            model.is_system = False
            return
        state = sa_inspect(model)
        was_system = state.attrs.is_system.history.deleted[0] if state.attrs.is_system.history.deleted \
            else model.is_system
        if not was_system:
            return
        changed = [name for name in LOCKED if state.attrs[name].history.has_changes()]
        if changed:
            raise ValidationError(gettext(
                "%(name)s is a system class: its %(fields)s cannot change (the rules find it by them).",
                name=state.attrs.name.history.deleted[0] if state.attrs.name.history.deleted else model.name,
                fields=", ".join(changed)))

    def on_model_delete(self, model):
        if model.is_system:
            raise ValidationError(gettext(
                "%(name)s is a system class: it cannot be deleted.", name=model.name))
