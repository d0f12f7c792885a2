"""What the domain writes for people: task titles and comments, block reasons, lead titles,
and the messages of its errors. In Russian, the language of the sales teams that read them
in the admin and on their phones; no Flask here (the admin translates its own pages).

One table, one function: ``text("callback_title", phone="+7...")``. A test checks every
key the code uses is here and every text is Russian.
"""

from __future__ import annotations

RU = {
    # missed calls and new numbers (pbx_daemon.crm.inquiries.rules)
    "withheld_number": "скрытый номер",
    "callback_title": "Перезвонить {phone}",
    "missed_call_comment": "Пропущенный звонок от {who} в {when}.",
    "after_hours_comment": "Звонок в нерабочее время от {who} в {when}; голосовое сообщение — в карточке обращения, если оставлено.",
    "answered_new_number_comment": "Отвеченный звонок с нового номера, {who}, в {when}.",
    "late_more": "… и ещё {count} (см. открытые обращения)",
    "late_title": "Перезвонить: {calls}, сохранены после срока перезвона",
    "late_comment": ("{calls} поступили, пока pbx-crm не записывал звонки, и сохранены позже из журнала "
                     "CEL Asterisk, уже после срока перезвона: у каждого есть открытое обращение, "
                     "но нет своей задачи.\n"),
    # inquiries (pbx_daemon.crm.inquiries.actions)
    "no_inquiry_class": "нет класса обращений {code}",
    "not_a_subclass": "подкласс {subclass} не относится к классу «{cls}»",
    "nothing_to_block": "у этого обращения нет номера, который можно заблокировать",
    "spam_reason": "спам (обращение № {id})",
    "inquiry_title": "Обращение № {id}",
    # (the site-form API's errors stay English: developers read them, not the sales team)
    # the funnel (pbx_daemon.crm.funnel)
    "lead_converted": "лид № {id} уже сконвертирован",
    "lead_lost": "лид № {id} проигран: сначала откройте его снова",
    "no_open_stage": "не настроено ни одной открытой стадии сделки",
    "no_client_number": "у этого звонка нет номера клиента",
    "call_list_call": "звонок из списка обзвона попадает в воронку из рабочего места",
    "call_on_card": "звонок № {id} уже привязан к карточке",
    "task_needs": "для задачи нужно: {fields}",
    "deadline_zone": "у срока нет часового пояса",
    "unknown_links": "неизвестные связи: {links}",
    "task_field_title": "название",
    "task_field_type": "тип (звонок, встреча, e-mail)",
    "task_field_responsible": "ответственный",
    "task_field_deadline": "срок",
    "task_field_comment": "комментарий",
    # merging duplicates (pbx_daemon.crm.merge): what the kept card's notes keep of the other
    "merged_from": "Из объединённой карточки № {id}:",
    "merge_field_name": "название",
    "merge_field_full_name": "ФИО",
    "merge_field_title": "название",
    "merge_field_tax_id": "ИНН",
    "merge_field_email": "эл. почта",
    "merge_field_website": "сайт",
    "merge_field_position": "должность",
    "merge_field_company_name": "компания",
    "merge_field_phone": "телефон",
    "merge_field_notes": "заметки",
}


def text(key: str, **values) -> str:
    """The text ``key`` with ``values`` filled in."""
    return RU[key].format(**values)


def missed_calls(count: int) -> str:
    """``1 пропущенный звонок``, ``2 пропущенных звонка``, ``5 пропущенных звонков``."""
    return f"{count} " + plural(count, "пропущенный звонок", "пропущенных звонка", "пропущенных звонков")


def plural(n: int, one: str, few: str, many: str) -> str:
    """The Russian form for ``n``: 1, 21 -> one; 2-4, 22-24 -> few; the rest -> many."""
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many
