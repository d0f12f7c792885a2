"""Client-base import, the pure part (issue 18; seed 001: "первичное заполнение ... из
таблицы Excel ... 1С"): companies and contacts from a CSV/XLSX export of amoCRM,
Bitrix24, 1C or a plain Excel sheet. No database, no Flask: headers and rows in, frozen
dataclasses and decisions out. The database side (fetch, apply, presets) is
:mod:`pbx_daemon.crm.client_import_sql`.

The flow, as for the call-list import (:mod:`pbx_daemon.crm.importer`):

1. :func:`guess_mapping`: field -> the columns that feed it, from the header names (the
   Russian and English names those systems export). Phones, e-mails and notes may come
   from several columns; a cell may hold several numbers or addresses separated by
   ``,`` ``;`` or a line break.
2. :func:`parse_row`: one row -> :class:`ClientRow` (phones in E.164, e-mails lower-case,
   INN checked), or the reasons it cannot be read.
3. :func:`decide_rows`: given what the database holds (:class:`Known`), the run's
   :class:`Policy` and the importer's :class:`Scope`, each row's fate -- create, update,
   skip or error, with a reason in Russian -- and the plan of what to write. Rows earlier
   in the file count as known to later ones (a company repeated on each of its
   contacts' rows is created once).

The real run writes the plan in one transaction and writes nothing if any row is an
error; the dry run shows the same report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Iterable

from pbx_daemon.crm.models import normalize_name
from pbx_daemon.crm.phones import _EXT, InvalidPhoneNumber, normalize
from pbx_daemon.crm.texts import plural

# The fields a column can feed; MULTI ones take several columns.
FIELDS = ("company_name", "tax_id", "contact_name", "last_name", "first_name", "middle_name",
          "position", "phone", "email", "responsible", "department", "notes")
MULTI = frozenset({"phone", "email", "notes"})
MATCH_KEYS = ("phone", "email", "inn", "name")
ON_MATCH = ("update", "skip", "create")
# The sources an operator picks from (a preset is saved per source); any other name works too.
SOURCES = ("amoCRM", "Bitrix24", "1C", "Excel")

# Header names as the usual exports write them (compared after _key: case, ё, punctuation).
EXACT = {
    "company_name": ("наименование", "название компании", "компания", "организация", "контрагент",
                     "название", "наименование организации", "юрлицо", "юридическое лицо",
                     "company", "company name", "organization", "organisation", "account", "account name"),
    "tax_id": ("инн", "инн организации", "инн компании", "inn", "tax id", "taxpayer id"),
    "contact_name": ("фио", "контакт", "контактное лицо", "полное имя", "имя контакта", "full name",
                     "contact", "contact name", "contact person", "name"),
    "last_name": ("фамилия", "last name", "surname"),
    "first_name": ("имя", "first name"),
    "middle_name": ("отчество", "middle name"),
    "position": ("должность", "position", "job title", "title"),
    "responsible": ("ответственный", "ответственный менеджер", "основной менеджер", "менеджер",
                    "ответственный пользователь", "ответственное лицо", "responsible", "responsible user",
                    "owner", "manager", "account manager"),
    "department": ("отдел", "подразделение", "department"),
    "notes": ("комментарий", "примечание", "заметки", "заметка", "описание", "комментарии",
              "notes", "note", "comment", "comments", "description"),
}
_PHONE_WORDS = ("телефон", "phone", "мобильный", "tel", "тел", "моб", "mobile")
_EMAIL_WORDS = ("email", "e mail", "электронн", "mail")

STATUSES = {"create": "создано", "update": "обновлено", "skip": "пропущено", "error": "ошибка"}


def header_key(header: str) -> str:
    """``" Эл. почта "`` -> ``"эл почта"``: how headers are compared."""
    text = str(header or "").strip().casefold().replace("ё", "е")
    return " ".join(re.sub(r"[^\w@]+", " ", text).split())


def _field_of(key: str) -> str | None:
    for name, words in EXACT.items():
        if key in words:
            return name
    tokens = key.split()
    if "почтовый" in tokens or "факс" in tokens or "fax" in tokens:
        return None
    if any(w in tokens for w in _PHONE_WORDS) or any(t.startswith(("телефон", "phone")) for t in tokens):
        return "phone"
    if "почта" in tokens or any(w in key for w in _EMAIL_WORDS):
        return "email"
    if tokens and tokens[0] in ("комментарий", "примечание", "заметки", "notes", "comment"):
        return "notes"
    if tokens and tokens[0] == "ответственный":
        return "responsible"
    return None


def guess_mapping(headers: list[str]) -> dict[str, list[int]]:
    """field -> column indexes, from the header names. Single fields take the first column
    that names them; phones, e-mails and notes take every such column, left to right.

    >>> guess_mapping(["Наименование", "ИНН", "Телефон", "Эл. почта", "Основной менеджер"])
    {'company_name': [0], 'tax_id': [1], 'phone': [2], 'email': [3], 'responsible': [4]}
    """
    mapping: dict[str, list[int]] = {}
    for i, header in enumerate(headers):
        name = _field_of(header_key(header))
        if name is None or (name in mapping and name not in MULTI):
            continue
        mapping.setdefault(name, []).append(i)
    return mapping


def mapping_to_names(headers: list[str], mapping: dict[str, list[int]]) -> dict[str, list[str]]:
    """The mapping by header names: what a preset keeps (the next file's columns may move)."""
    return {f: [headers[i] for i in cols if i < len(headers)] for f, cols in mapping.items() if cols}


def mapping_from_names(headers: list[str], names: dict[str, list[str]]) -> dict[str, list[int]]:
    """A preset applied to a file: each field whose columns are all in the file takes them;
    the others are guessed, as if there were no preset."""
    keys = [header_key(h) for h in headers]
    mapping = guess_mapping(headers)
    for f, wanted in names.items():
        if f not in FIELDS or not isinstance(wanted, list):
            continue
        cols = [keys.index(header_key(w)) for w in wanted if isinstance(w, str) and header_key(w) in keys]
        if cols and len(cols) == len(wanted):
            mapping[f] = cols if f in MULTI else cols[:1]
            for other in list(mapping):  # a column feeds one field
                if other != f:
                    mapping[other] = [c for c in mapping[other] if c not in cols]
                    if not mapping[other]:
                        del mapping[other]
    return mapping


def describe_mapping(headers: list[str], mapping: dict[str, list[int]]) -> str:
    return ", ".join(f"{f} <- " + " + ".join(repr(headers[i]) for i in cols)
                     for f, cols in mapping.items() if cols)


# ---- one row ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ClientRow:
    """One row of the file, read. ``line``: in the file, the header is line 1."""

    line: int
    company_name: str = ""
    tax_id: str = ""
    contact_name: str = ""
    position: str = ""
    phones: tuple[tuple[str, str], ...] = ()  # (E.164, extension or "")
    emails: tuple[str, ...] = ()
    responsible: str = ""
    department: str = ""
    notes: str = ""
    errors: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.company_name or self.contact_name or self.tax_id or self.phones or self.emails
                    or self.errors)


# Several numbers in a cell: ';' or a line break, and ',' unless an extension follows it
# ("8 495 123-45-67, доб. 12" is one number).
_SPLIT_PHONES = re.compile(r"[;\n\r]+|,(?!\s*(?:доб|вн|д\.|ext|x|#))", re.IGNORECASE)
_SPLIT_EMAILS = re.compile(r"[;,\s]+")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


_NOT_DIGIT = re.compile(r"[^0-9]")
_PLAIN_RU = re.compile(r"^(?:\+7|[78])[0-9 ()\-.]{10,20}$")


class PhoneReader:
    """:func:`~pbx_daemon.crm.phones.normalize` with a shortcut for the common Russian
    11-digit forms (``8 (916) 123-45-67``, ``+7 495 ...``): ``phonenumbers`` takes
    ~150 us a number, 30 s for a 100,000-row file with two numbers a row. Its Russian
    metadata decides validity by the first 3-5 digits of the 10-digit national number
    (the rest is any digits), so once a number with the same first 6 digits normalised
    (in full) to ``+7`` and its digits, the others take the same way. Anything else
    (an extension, a foreign or short number, a refusal) goes the full way."""

    def __init__(self, region: str = "RU", default_area_code: str = ""):
        self.region, self.default_area_code = region, default_area_code
        self.valid_prefixes: set[str] = set()

    def __call__(self, raw: str) -> tuple[str, str]:
        base, ext = raw, ""
        plain = _PLAIN_RU.match(raw)  # then no extension: that takes a letter or '#'
        if not plain:
            marker = _EXT.search(raw)
            if marker and marker.start() > 0:  # as normalize reads "…, доб. 12"
                base, ext = raw[:marker.start()].strip(), marker.group("ext")
                plain = _PLAIN_RU.match(base)
        if plain and self.region.upper() == "RU":
            digits = _NOT_DIGIT.sub("", base)
            if len(digits) == 11:
                e164 = "+7" + digits[1:]
                if e164[:8] in self.valid_prefixes:
                    return e164, ext
                number = normalize(raw, self.region, self.default_area_code)
                if number.e164 == e164 and (number.ext or "") == ext:
                    self.valid_prefixes.add(e164[:8])
                return number.e164, number.ext or ""
        number = normalize(raw, self.region, self.default_area_code)
        return number.e164, number.ext or ""


def _cell(row: list[str], cols: list[int] | None) -> list[str]:
    """The non-empty values of ``cols`` in ``row``, stripped."""
    if not cols:
        return []
    n = len(row)
    values = []
    for i in cols:
        if i < n:
            value = str(row[i]).strip()
            if value:
                values.append(value)
    return values


def _one(row: list[str], cols: list[int] | None, limit: int) -> str:
    """A single field: its columns' values joined by a space, cut at ``limit``."""
    return " ".join(_cell(row, cols))[:limit] if cols else ""


def parse_tax_id(raw: str) -> str:
    """The INN as 10 (organisation) or 12 (person) digits; Excel drops a leading zero of
    an INN kept as a number, so 9 and 11 digits get it back. ValueError otherwise."""
    digits = re.sub(r"[\s-]", "", raw)
    if not digits.isdigit() or len(digits) not in (9, 10, 11, 12):
        raise ValueError(f"ИНН «{raw[:40]}» не из 10 или 12 цифр")
    return digits.zfill(10 if len(digits) <= 10 else 12)


def parse_row(line: int, row: list[str], mapping: dict[str, list[int]], *, region: str = "RU",
              default_area_code: str = "", phone: PhoneReader | None = None) -> ClientRow:
    """One row -> :class:`ClientRow`. A number or address that does not parse is an error
    of the row (its text in the reason), never dropped silently; duplicates within the row
    are kept once. ``phone``: one :class:`PhoneReader` for all the file's rows."""
    errors: list[str] = []
    phone = phone or PhoneReader(region, default_area_code)
    cols = mapping.get
    contact = _one(row, cols("contact_name"), 200)
    if not contact:
        contact = " ".join(p for p in (_one(row, cols("last_name"), 80), _one(row, cols("first_name"), 80),
                                       _one(row, cols("middle_name"), 80)) if p)
    phones: list[tuple[str, str]] = []
    for cell in _cell(row, cols("phone")):
        for part in _SPLIT_PHONES.split(cell):
            if not part.strip():
                continue
            try:
                number = phone(part.strip())
            except InvalidPhoneNumber as e:
                errors.append(f"неверный номер «{part.strip()[:40]}» ({e})")
                continue
            if number not in phones:
                phones.append(number)
    emails: list[str] = []
    for cell in _cell(row, cols("email")):
        for part in _SPLIT_EMAILS.split(cell):
            address = part.strip().strip("<>").lower()
            if not address:
                continue
            if not _EMAIL.match(address) or len(address) > 254:
                errors.append(f"неверный e-mail «{part[:60]}»")
            elif address not in emails:
                emails.append(address)
    tax_id = _one(row, cols("tax_id"), 40)
    if tax_id:
        try:
            tax_id = parse_tax_id(tax_id)
        except ValueError as e:
            errors.append(str(e))
            tax_id = ""
    return ClientRow(line=line, company_name=_one(row, cols("company_name"), 300), tax_id=tax_id,
                     contact_name=contact, position=_one(row, cols("position"), 200), phones=tuple(phones),
                     emails=tuple(emails), responsible=_one(row, cols("responsible"), 200),
                     department=_one(row, cols("department"), 120),
                     notes="\n".join(_cell(row, cols("notes")))[:4000], errors=tuple(errors))


# ---- what the database holds ------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Person:
    """An employee a row may name as responsible."""

    id: int
    login: str
    full_name: str
    email: str | None
    department_id: int | None
    active: bool = True


@dataclass(frozen=True, slots=True)
class Card:
    """An existing company or contact, as matching needs it. ``key``: ``("company", 12)``
    for a stored card, ``("company", -3)`` for one the file creates (its plan index)."""

    key: tuple[str, int]
    name: str
    responsible_id: int | None
    department_id: int | None = None
    company_key: tuple[str, int] | None = None  # a contact's company
    phones: frozenset[tuple[str, str]] = frozenset()
    emails: frozenset[str] = frozenset()
    tax_id: str = ""
    notes: str = ""


@dataclass(frozen=True, slots=True)
class Known:
    """What was fetched for the file's values: cards by phone, e-mail, INN and name key,
    the employees and the departments (by name key)."""

    companies: dict[int, Card] = field(default_factory=dict)
    contacts: dict[int, Card] = field(default_factory=dict)
    company_by_phone: dict[str, tuple[int, ...]] = field(default_factory=dict)
    contact_by_phone: dict[str, tuple[int, ...]] = field(default_factory=dict)
    company_by_email: dict[str, tuple[int, ...]] = field(default_factory=dict)
    contact_by_email: dict[str, tuple[int, ...]] = field(default_factory=dict)
    company_by_tax_id: dict[str, tuple[int, ...]] = field(default_factory=dict)
    company_by_name: dict[str, tuple[int, ...]] = field(default_factory=dict)
    contact_by_name: dict[str, tuple[int, ...]] = field(default_factory=dict)
    people: tuple[Person, ...] = ()
    departments: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Policy:
    """The run's choices: which values find an existing card, and what a found card gets."""

    match: tuple[str, ...] = MATCH_KEYS
    on_match: str = "update"

    def __post_init__(self):
        if self.on_match not in ON_MATCH:
            raise ValueError(f"on_match must be one of {', '.join(ON_MATCH)}")
        unknown = set(self.match) - set(MATCH_KEYS)
        if unknown:
            raise ValueError(f"unknown match keys: {', '.join(sorted(unknown))} (known: {', '.join(MATCH_KEYS)})")


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose cards the importer may touch. ``None`` ids: anyone's (admin, owner). A head:
    the employees of their department (and themselves), and ``department_id`` is where
    every imported card goes."""

    employee_ids: frozenset[int] | None = None
    department_id: int | None = None

    def may_touch(self, card: Card) -> bool:
        if self.employee_ids is None or card.key[1] < 0:
            return True
        return card.responsible_id in self.employee_ids or (
            card.key[0] == "company" and self.department_id is not None
            and card.department_id == self.department_id)


# ---- the decision -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CardPlan:
    """What to write for one card: ``key`` names a stored card (id > 0) or a new one
    (negative: its place in the plan). Fields set: the values to store (None: leave)."""

    key: tuple[str, int]
    name: str = ""
    tax_id: str | None = None
    email: str | None = None
    position: str | None = None
    notes: str | None = None
    responsible_id: int | None = None
    department_id: int | None = None
    company_key: tuple[str, int] | None = None
    phones: tuple[tuple[str, str], ...] = ()  # to add
    emails: tuple[str, ...] = ()  # to add (contacts)


@dataclass(frozen=True, slots=True)
class RowResult:
    line: int
    status: str  # create | update | skip | error
    reason: str
    company: str = ""
    contact: str = ""

    @property
    def message(self) -> str:
        return f"{STATUSES[self.status]}: {self.reason}"


@dataclass
class Plan:
    """Every row's result and the cards to write, in file order."""

    rows: list[RowResult] = field(default_factory=list)
    cards: list[CardPlan] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for r in self.rows if r.status == status)

    @property
    def ok(self) -> bool:
        return self.count("error") == 0

    def problems(self, limit: int = 20) -> list[RowResult]:
        return [r for r in self.rows if r.status == "error"][:limit]

    def summary(self) -> str:
        """``3 строки: 2 создано, 1 ошибка``."""
        return summarize({s: self.count(s) for s in STATUSES})


def summarize(counts: dict[str, int]) -> str:
    """Rows per status -> ``3 строки: 2 создано, 1 ошибка`` (:meth:`Plan.summary`, and the
    kept preview's, which has the counts but not the rows)."""
    n = sum(counts.get(s, 0) for s in STATUSES)
    parts = [f"{counts[s]} {STATUSES[s]}" for s in STATUSES if counts.get(s)]
    return f"{n} {plural(n, 'строка', 'строки', 'строк')}: " + (", ".join(parts) or "нечего импортировать")


def _token_key(name: str) -> str:
    return " ".join(sorted((normalize_name(name) or "").split()))


class People:
    """The employees by login, e-mail and full name (word order aside)."""

    def __init__(self, people: tuple[Person, ...]):
        self.by: dict[tuple[str, str], list[Person]] = {}
        for p in people:
            self.by.setdefault(("login", p.login.casefold()), []).append(p)
            if p.email:
                self.by.setdefault(("email", p.email.casefold()), []).append(p)
            self.by.setdefault(("name", _token_key(p.full_name)), []).append(p)


def find_responsible(text: str, people: People, scope: Scope) -> tuple[Person | None, str]:
    """The employee a cell names, by login, e-mail or full name (word order aside:
    "Иванов Иван" is "Иван Иванов"); or why none."""
    wanted = text.strip()
    folded = wanted.casefold()
    found = people.by.get(("login", folded), [])
    if not found and "@" in wanted:
        found = people.by.get(("email", folded), [])
    if not found:
        found = people.by.get(("name", _token_key(wanted)), [])
    if not found:
        return None, f"ответственный «{wanted[:60]}» не найден среди сотрудников (логин, ФИО или e-mail)"
    if len(found) > 1:
        return None, f"ответственный «{wanted[:60]}»: несколько сотрудников с таким именем, укажите логин"
    person = found[0]
    if not person.active:
        return None, f"ответственный «{wanted[:60]}» не работает (сотрудник отключён)"
    if scope.employee_ids is not None and person.id not in scope.employee_ids:
        return None, f"ответственный «{wanted[:60]}» не из вашего отдела"
    return person, ""


class _Index:
    """The known cards plus those the file creates or changes, for matching later rows:
    per (kind, what) one dict, value -> the card keys holding it."""

    def __init__(self, known: Known):
        self.known = known
        self.cards: dict[tuple[str, int], Card] = {}
        for cid, card in known.companies.items():
            self.cards[("company", cid)] = card
        for cid, card in known.contacts.items():
            self.cards[("contact", cid)] = card
        self.name_keys: dict[str, str] = {}
        self.by: dict[tuple[str, str], dict[str, list[tuple[str, int]]]] = {}
        for kind, by in (("company", "phone"), ("contact", "phone"), ("company", "email"),
                         ("contact", "email"), ("company", "tax_id"), ("company", "name"),
                         ("contact", "name")):
            self.by[(kind, by)] = {value: [(kind, i) for i in ids]
                                   for value, ids in getattr(known, f"{kind}_by_{by}").items()}

    def lookup(self, kind: str, by: str, value: str) -> list[tuple[str, int]]:
        return self.by[(kind, by)].get(value) or []

    def name_key(self, name: str) -> str:
        key = self.name_keys.get(name)
        if key is None:
            key = self.name_keys[name] = normalize_name(name) or ""
        return key

    def _put(self, by: dict, value: str, key: tuple[str, int]) -> None:
        keys = by.get(value)
        if keys is None:
            by[value] = [key]
        elif key not in keys:
            keys.append(key)

    def add(self, card: Card) -> None:
        self.cards[card.key] = card
        kind, key, put = card.key[0], card.key, self._put
        if card.phones:
            by = self.by[(kind, "phone")]
            for phone, _ext in card.phones:
                put(by, phone, key)
        if card.emails:
            by = self.by[(kind, "email")]
            for email in card.emails:
                put(by, email, key)
        if card.tax_id and kind == "company":  # a contact has no INN
            put(self.by[(kind, "tax_id")], card.tax_id, key)
        if card.name:
            put(self.by[(kind, "name")], self.name_key(card.name), key)


def _match(index: _Index, kind: str, row: ClientRow, policy: Policy,
           company_key: tuple[str, int] | None) -> tuple[set[tuple[str, int]], str]:
    """The cards of ``kind`` the row's values find, and by what (the first key that finds
    any, in the order phone, e-mail, INN, name)."""
    for key in policy.match:
        found: list[tuple[str, int]] = []
        if key == "phone":
            if row.phones:
                by = index.by[(kind, "phone")]
                for phone, _ext in row.phones:
                    found += by.get(phone, ())
        elif key == "email":
            if row.emails:
                by = index.by[(kind, "email")]
                for email in row.emails:
                    found += by.get(email, ())
        elif key == "inn" and kind == "company" and row.tax_id:
            found = index.lookup(kind, "tax_id", row.tax_id)
        elif key == "name":
            name = row.company_name if kind == "company" else row.contact_name
            if name:
                found = index.lookup(kind, "name", index.name_key(name))
                if kind == "contact" and found:  # a person's name alone is too common: same company only
                    found = [k for k in found if company_key and index.cards[k].company_key == company_key]
        if found:
            return set(found), _MATCHED_BY[key]
    return set(), ""


_MATCHED_BY = {"phone": "совпал телефон", "email": "совпал e-mail", "inn": "совпал ИНН", "name": "совпало имя"}


def _notes(text: str, extra_emails: tuple[str, ...], existing: str) -> str | None:
    """What a card's notes get from a row (appended to what they hold; nothing already
    there twice). A company keeps one e-mail in its field: the others go here."""
    parts = [text] if text and text not in existing else []
    if extra_emails:
        parts.append("E-mail: " + ", ".join(extra_emails))
    return "\n".join(parts) or None


_WORD = {"company": ("компания", "компании"), "contact": ("контакт", "контакта")}


def decide_rows(rows: Iterable[ClientRow], known: Known, policy: Policy = Policy(),
                scope: Scope = Scope()) -> Plan:
    """Each row's fate, in file order:

    * empty row: skipped, not an error;
    * a value that does not parse, neither a company nor a person named, a responsible
      named but not found (or not the importer's to assign), an unknown department:
      error;
    * a row with a company name makes or finds the company; with a person's name, a
      contact (attached to the row's company when there is one); phones and e-mails
      belong to the contact when there is one, else to the company;
    * a found card (by the policy's keys, first that finds any): ``update`` adds the
      row's new phones and e-mails, fills empty fields and sets the responsible the row
      names; ``skip`` leaves it as it is; ``create`` makes a new card anyway. Several
      cards found: error (which one is meant is for a person to say). A found card the
      importer may not touch (a head: another department's): error, unless skipped;
    * responsible empty: none (the card goes to the row's or the importer's department,
      else the responsible's).
    """
    plan = Plan()
    index = _Index(known)
    people = People(known.people)
    # A row naming a person: its phones and e-mails are theirs, the company is found by INN or name.
    company_policy = replace(policy, match=tuple(k for k in policy.match if k in ("inn", "name")))
    responsible: dict[str, tuple[Person | None, str]] = {}
    depts = known.departments
    new_count = 0
    for row in rows:
        if row.empty:
            plan.rows.append(RowResult(row.line, "skip", "пустая строка"))
            continue
        errors = list(row.errors)
        if not row.company_name and not row.contact_name:
            errors.append("нет ни названия компании, ни имени контакта")
        person = None
        if row.responsible:
            if row.responsible not in responsible:
                responsible[row.responsible] = find_responsible(row.responsible, people, scope)
            person, why = responsible[row.responsible]
            if person is None:
                errors.append(why)
        department_id = scope.department_id
        if row.department:
            found_dept = depts.get(index.name_key(row.department))
            if found_dept is None:
                errors.append(f"нет отдела «{row.department[:60]}»")
            elif scope.department_id is not None and found_dept != scope.department_id:
                errors.append(f"отдел «{row.department[:60]}» не ваш")
            else:
                department_id = found_dept
        if department_id is None and person is not None:
            department_id = person.department_id
        if errors:
            plan.rows.append(RowResult(row.line, "error", "; ".join(errors), row.company_name, row.contact_name))
            continue

        outcome: list[tuple[str, str]] = []  # (what happened, description)
        row_cards: list[CardPlan] = []
        failed = ""
        company_key = None
        for kind in ("company", "contact"):
            name = row.company_name if kind == "company" else row.contact_name
            if not name:
                continue
            # Phones and e-mails are the person's when the row names one; the company is
            # then found by INN or name only.
            owns_values = kind == "contact" or not row.contact_name
            match_policy = policy if owns_values else company_policy
            found, by = _match(index, kind, row, match_policy, company_key)
            phones = row.phones if owns_values else ()
            emails = row.emails if owns_values else ()
            word = _WORD[kind][0]
            if found and policy.on_match != "create":
                if len(found) > 1:
                    failed = (f"{_WORD[kind][1]} «{name[:60]}»: {by} с несколькими карточками "
                              f"({', '.join(str(k[1]) for k in sorted(found) if k[1] > 0) or 'из этого файла'})")
                    break
                key = next(iter(found))
                card = index.cards[key]
                if kind == "company":
                    # Another department's company: its contact is not attached to it.
                    company_key = key if scope.may_touch(card) else None
                if policy.on_match == "skip":
                    outcome.append(("skip", f"{word} «{card.name[:60]}» ({by})"))
                    continue
                if not scope.may_touch(card):
                    failed = f"{word} «{card.name[:60]}» ({by}) из чужого отдела: обновлять её нельзя"
                    break
                phones = tuple(p for p in phones if p not in card.phones)
                emails = tuple(e for e in emails if e not in card.emails and e not in card.notes)
                email = None
                if kind == "company" and emails and not card.emails:
                    email, emails = emails[0], emails[1:]
                notes = _notes(row.notes, emails if kind == "company" else (), card.notes)
                changes = CardPlan(
                    key=key, tax_id=row.tax_id if kind == "company" and row.tax_id and not card.tax_id else None,
                    email=email, position=(row.position or None) if kind == "contact" else None,
                    notes=notes, responsible_id=person.id if person and person.id != card.responsible_id else None,
                    department_id=(department_id if kind == "company" and department_id
                                   and department_id != card.department_id else None),
                    company_key=(company_key if kind == "contact" and company_key
                                 and card.company_key is None else None),
                    phones=phones, emails=emails if kind == "contact" else ())
                if changes == CardPlan(key=key):
                    outcome.append(("skip", f"{word} «{card.name[:60]}» ({by}): без изменений"))
                    continue
                row_cards.append(changes)
                index.add(replace(card, phones=card.phones | set(phones),
                                  emails=card.emails | set(emails if kind == "contact" else [email] if email else []),
                                  responsible_id=changes.responsible_id or card.responsible_id,
                                  company_key=changes.company_key or card.company_key,
                                  notes=card.notes + "\n" + (notes or "")))
                outcome.append(("update", f"{word} «{card.name[:60]}» ({by})"))
                continue
            new_count += 1
            key = (kind, -new_count)
            email = emails[0] if kind == "company" and emails else None
            new = CardPlan(key=key, name=name, tax_id=(row.tax_id or None) if kind == "company" else None,
                           email=email, position=(row.position or None) if kind == "contact" else None,
                           notes=_notes(row.notes, emails[1:] if kind == "company" else (), ""),
                           responsible_id=person.id if person else None,
                           department_id=department_id if kind == "company" else None,
                           company_key=company_key if kind == "contact" else None,
                           phones=phones, emails=emails if kind == "contact" else ())
            row_cards.append(new)
            index.add(Card(key=key, name=name, responsible_id=new.responsible_id,
                           department_id=new.department_id, company_key=new.company_key,
                           phones=frozenset(phones), emails=frozenset(emails[:1] if kind == "company" else emails),
                           tax_id=new.tax_id or "", notes=new.notes or ""))
            if kind == "company":
                company_key = key
            outcome.append(("create", f"{word} «{name[:60]}»" + (f" ({by}, но выбрано «создавать»)"
                                                                  if found else "")))
        if failed:
            plan.rows.append(RowResult(row.line, "error", failed, row.company_name, row.contact_name))
            continue
        plan.cards.extend(row_cards)
        kinds = {k for k, _ in outcome}
        status = "create" if "create" in kinds else "update" if "update" in kinds else "skip"
        reason = "; ".join(f"{d} — {STATUSES[k]}" for k, d in outcome)
        plan.rows.append(RowResult(row.line, status, reason, row.company_name, row.contact_name))
    return plan
