"""The kept dry run of the client-import preview: pages and filters read back in file
order, the entry's age, owner and key checked, damaged or missing files read as none, a
few entries per upload, and everything removed with the upload."""

from __future__ import annotations

import pytest

from pbx_daemon.crm.client_import import Policy, RowResult, Scope
from pbx_daemon.crm.client_import_preview import (KEEP, MAX_AGE, drop_previews, load_preview, preview_key,
                                                  save_preview)

TOKEN = "t" * 24
ROWS = [RowResult(n + 2, ("create", "update", "skip", "error", "create")[n % 5],
                  f"причина {n}\nвторая строка «{n}»", f"ООО {n}", "" if n % 2 else f"Контакт {n}")
        for n in range(23)]


def key(**kw) -> str:
    args = dict(mapping={"company_name": [0], "phone": [2, 3]}, policy=Policy(), scope=Scope(),
                region="RU", default_area_code="")
    args.update(kw)
    return preview_key(TOKEN, args.pop("mapping"), args.pop("policy"), args.pop("scope"), **args)


@pytest.mark.parametrize("status", ["", "create", "update", "skip", "error"])
@pytest.mark.parametrize("size", [1, 4, 100])
def test_every_page_of_every_filter_reads_back_the_rows_in_file_order(tmp_path, status, size):
    save_preview(tmp_path, TOKEN, key(), ROWS, owner=7, now=1000.0)
    kept = load_preview(tmp_path, TOKEN, key(), owner=7, now=1000.0)
    wanted = [r for r in ROWS if not status or r.status == status]
    pages = [kept.page(status, p, size) for p in range(-(-len(wanted) // size) + 1)]
    assert sum(pages, []) == wanted and pages[-1] == [] and kept.shown(status) == len(wanted)
    assert kept.page(status, -1, size) == []


def test_the_counts_and_the_summary_are_the_plans():
    from pbx_daemon.crm.client_import import Plan

    assert Plan(rows=list(ROWS)).summary() == "23 строки: 9 создано, 5 обновлено, 5 пропущено, 4 ошибка"


def test_the_entry_keeps_the_counts_and_the_summary(tmp_path):
    kept = save_preview(tmp_path, TOKEN, key(), ROWS, owner=7, now=1000.0)
    assert kept.counts == {"create": 9, "update": 5, "skip": 5, "error": 4} and kept.total == 23
    assert load_preview(tmp_path, TOKEN, key(), owner=7, now=1000.0).summary() == \
        "23 строки: 9 создано, 5 обновлено, 5 пропущено, 4 ошибка"


@pytest.mark.parametrize("now,found", [(1000.0, True), (1000.0 + MAX_AGE, True), (1000.0 + MAX_AGE + 0.5, False),
                                       (999.0, False)])  # the clock went back: not trusted
def test_an_entry_is_valid_for_max_age_seconds(tmp_path, now, found):
    save_preview(tmp_path, TOKEN, key(), ROWS, owner=7, now=1000.0)
    assert (load_preview(tmp_path, TOKEN, key(), owner=7, now=now) is not None) is found


def test_another_owner_key_or_token_finds_nothing(tmp_path):
    save_preview(tmp_path, TOKEN, key(), ROWS, owner=7, now=1000.0)
    assert load_preview(tmp_path, TOKEN, key(), owner=8, now=1000.0) is None
    assert load_preview(tmp_path, TOKEN, key(policy=Policy(on_match="skip")), owner=7, now=1000.0) is None
    assert load_preview(tmp_path, "u" * 24, key(), owner=7, now=1000.0) is None


@pytest.mark.parametrize("changed", [
    dict(mapping={"company_name": [1], "phone": [2, 3]}), dict(mapping={"company_name": [0], "phone": [2]}),
    dict(policy=Policy(match=("phone",))), dict(policy=Policy(on_match="create")),
    dict(scope=Scope(frozenset({1, 2}), 3)), dict(scope=Scope(frozenset({1}), 3)), dict(region="BY"),
    dict(default_area_code="495")])
def test_the_key_changes_with_what_the_dry_run_depends_on(changed):
    assert key(**changed) != key()
    assert key(mapping={"phone": [2, 3], "company_name": [0]}) == key()  # the order of the fields is not


def test_a_damaged_or_half_gone_entry_is_none_or_an_error_the_caller_catches(tmp_path):
    kept = save_preview(tmp_path, TOKEN, key(), ROWS, owner=7, now=1000.0)
    kept.index_path.unlink()
    with pytest.raises(OSError):
        load_preview(tmp_path, TOKEN, key(), owner=7, now=1000.0).page()
    entry = tmp_path / f"{TOKEN}.preview.{key()}.json"
    entry.write_text("{not json")
    assert load_preview(tmp_path, TOKEN, key(), owner=7, now=1000.0) is None
    entry.write_text('{"key": "x"}')
    assert load_preview(tmp_path, TOKEN, key(), owner=7, now=1000.0) is None


def test_a_new_dry_run_for_the_same_key_replaces_the_old_files(tmp_path):
    old = save_preview(tmp_path, TOKEN, key(), ROWS, owner=7, now=1000.0)
    new = save_preview(tmp_path, TOKEN, key(), ROWS[:3], owner=7, now=1100.0)
    assert not old.rows_path.exists() and not old.index_path.exists()
    assert load_preview(tmp_path, TOKEN, key(), owner=7, now=1100.0).page() == ROWS[:3] == new.page()
    assert len(list(tmp_path.iterdir())) == 3


def test_at_most_keep_entries_per_upload_the_oldest_go(tmp_path):
    keys = [key(mapping={"company_name": [i]}) for i in range(KEEP + 2)]
    for i, k in enumerate(keys):
        save_preview(tmp_path, TOKEN, k, ROWS, owner=7, now=1000.0 + i)
    save_preview(tmp_path, "u" * 24, keys[0], ROWS, owner=7, now=900.0)  # another upload's: not counted
    kept = [k for k in keys if load_preview(tmp_path, TOKEN, k, owner=7, now=1010.0)]
    assert kept == keys[-KEEP:]
    assert len(list(tmp_path.glob(f"{TOKEN}.*"))) == 3 * KEEP
    assert load_preview(tmp_path, "u" * 24, keys[0], owner=7, now=1000.0) is not None


def test_drop_removes_the_uploads_entries_only(tmp_path):
    save_preview(tmp_path, TOKEN, key(), ROWS, owner=7, now=1000.0)
    (tmp_path / f"{TOKEN}.preview.{key()}.json.abcd.tmp").write_text("")  # a writer that died
    save_preview(tmp_path, "u" * 24, key(), ROWS, owner=7, now=1000.0)
    drop_previews(tmp_path, TOKEN)
    assert list(tmp_path.glob(f"{TOKEN}.*")) == [] and len(list(tmp_path.glob("u*"))) == 3
