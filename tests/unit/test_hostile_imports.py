"""Hostile import files (tests/hostile.py) fed to the sandboxed reader, the admin's upload
and ``pbx-crm import-list``: each is refused with one line, the admin still serves
afterwards, the parent process does not grow, and the child stays inside its limits."""

from __future__ import annotations

import dataclasses
import io
import time

import pytest
from markupsafe import escape
from openpyxl import Workbook

from pbx_daemon.cli import main
from pbx_daemon.crm import models as m
from pbx_daemon.crm.import_limits import LIMITS
from pbx_daemon.crm.table_sandbox import READ_TABLE, read_table_isolated, run_isolated
from pbx_daemon.crm.tables import ImportError_, read_table_bytes
from tests.hostile import CORPUS, GOOD_XLSX, HEADER, cell, huge_declared_range, huge_used_range, sheet, xlsx
from tests.unit.test_admin_crm import app as admin_app  # noqa: F401 - the fixture
from tests.unit.test_admin_crm import csrf, login
from tests.unit.test_cli import env  # noqa: F401 - the fixture
from tests.unit.helpers import fast_hash

CASES = list(CORPUS)
CHILD_BOUND_KIB = 64 * 1024  # every refusal here costs the child less than 64 MB


def _rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


@pytest.mark.parametrize("case", CASES)
def test_each_hostile_file_gets_a_one_line_refusal_from_a_small_child(case):
    filename, build, words = CORPUS[case]
    with pytest.raises(ImportError_) as e:
        run_isolated(READ_TABLE, build(), filename)
    text = str(e.value)
    assert words in text and "\n" not in text and len(text) < 200
    assert 0 < e.value.peak_kib < CHILD_BOUND_KIB


def test_a_runaway_reader_is_stopped_by_the_childs_memory_limit_not_the_parents():
    """RLIMIT_AS is applied in the child: a 2 GB allocation fails there, the parent stays."""
    run_isolated(READ_TABLE, GOOD_XLSX, "warm.xlsx")
    before = _rss_kib()
    with pytest.raises(ImportError_) as e:
        run_isolated("tests.hostile:allocate_past_the_limit", b"", "x.csv")
    assert str(e.value) == "reading x.csv needs more than 1024 MB of memory"
    assert e.value.peak_kib < LIMITS.memory_bytes // 1024
    assert _rss_kib() - before < 8 * 1024


def test_a_native_abort_costs_only_the_child():
    """The old read (calamine, no scan) aborts on the whole-grid file: now in the child."""
    before = _rss_kib()
    with pytest.raises(ImportError_) as e:
        run_isolated("tests.hostile:calamine_unguarded", huge_used_range(), "range.xlsx")
    assert str(e.value) == "the reader crashed on range.xlsx (SIGABRT): not a file it can read"
    assert _rss_kib() - before < 8 * 1024


def test_a_hung_reader_is_killed_at_the_deadline():
    limits = dataclasses.replace(LIMITS, seconds=0.5)
    started = time.monotonic()
    with pytest.raises(ImportError_) as e:
        run_isolated("tests.hostile:sleep_past_the_deadline", b"", "x.csv", limits)
    assert str(e.value) == "reading x.csv took longer than 0.5 s; split the file"
    assert time.monotonic() - started < 5


def test_caps_are_one_line_errors_and_short_rows_are_not_padded():
    small = dataclasses.replace(LIMITS, rows=4, columns=3, cells=5, text_chars=20)
    assert read_table_bytes(b"a;b;c\n1\n\n2;;\n", "f.csv", small) == (["a", "b", "c"], [["1"], ["2"]])
    for data, words in ((b"a\nb\nc\nd\ne\n", "more than 4 rows"), (b"a;b;c;d;e\n", "row 1 has 5 columns"),
                        (b"a;b\n1;2;3;4\n", "row 2 has 4 columns"), (b"a;b;c\n1;2;3\n", "more than 5 cells"),
                        (b"a\n" + b"x" * 30 + b"\n", "more than 20 characters")):
        with pytest.raises(ImportError_, match=words):
            read_table_bytes(data, "f.csv", small)
    with pytest.raises(ImportError_, match="larger than 20 MB"):
        read_table_bytes(b"x" * (LIMITS.file_bytes + 1), "f.csv")


def test_a_declared_whole_grid_is_not_trusted_and_a_real_sheet_reads():
    assert read_table_isolated(huge_declared_range(), "x.xlsx") == (["Phone", "Name"], [["+79161112233", "Anna"]])


def test_cells_with_only_a_style_do_not_count_toward_the_used_area():
    """Borders drawn down to row 900,000 or out to column XFD are not data (calamine skips them)."""
    styled = b'<row r="2">' + cell("A2", "+79161112233") + b'<c r="XFD2" s="1"/></row><row r="900000"><c r="A900000" s="1"/></row>'
    assert read_table_bytes(xlsx(sheet(HEADER + styled)), "s.xlsx") == (["Phone", "Name"], [["+79161112233"]])


@pytest.mark.parametrize("encoding", ["cp1251", "utf-8", "utf-8-sig", "utf-16"])
def test_russian_csv_in_every_encoding_excel_writes_reads_the_same(encoding):
    text = "Компания;Телефон\nООО «Окна» №1;8 (916) 111-22-33\n"
    assert read_table_isolated(text.encode(encoding), "f.csv") == (
        ["Компания", "Телефон"], [["ООО «Окна» №1", "8 (916) 111-22-33"]])


def test_a_normal_xlsx_reads_numbers_and_text_as_before():
    book = Workbook()
    book.active.append(["Phone", "Company", "Name"])
    book.active.append([79161234567, "Acme", None])
    buf = io.BytesIO()
    book.save(buf)
    assert read_table_isolated(buf.getvalue(), "l.xlsx") == (["Phone", "Company", "Name"], [["79161234567", "Acme"]])


# ---- the admin ----------------------------------------------------------------------------------

@pytest.fixture
def head(admin_app, tmp_path):  # noqa: F811
    cfg = admin_app.extensions["pbx_crm_config"]
    admin_app.extensions["pbx_crm_config"] = dataclasses.replace(
        cfg, general=dataclasses.replace(cfg.general, data_dir=str(tmp_path)))
    with admin_app.app_context():
        s = admin_app.extensions["sqlalchemy"].session
        s.add(m.Employee(full_name="Head", login="head", role="head",
                         password_hash=fast_hash("head-Password-1")))
        s.commit()
    return login(admin_app, "head")


def _upload(client, filename, data):
    return client.post("/admin/import/", data={"csrf_token": csrf(client, "/admin/import/"), "list": "L",
                                               "file": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data")


def test_the_admin_refuses_every_hostile_upload_in_one_line_and_keeps_serving(head, tmp_path):
    _upload(head, "warm.xlsx", GOOD_XLSX)
    before = _rss_kib()
    started = time.monotonic()
    for case in CASES:
        filename, build, words = CORPUS[case]
        r = _upload(head, filename, build())
        assert r.status_code == 302 and r.headers["Location"].endswith("/admin/import/"), case
        page = head.get("/admin/import/").get_data(as_text=True)
        assert str(escape(words)) in page, case
    elapsed = time.monotonic() - started
    grown = _rss_kib() - before
    assert head.get("/admin/queue/").status_code == 200  # still serving
    assert not list(tmp_path.glob("*.upload"))  # nothing refused was kept
    assert grown < 32 * 1024, f"the admin process grew {grown} KiB"
    print(f"admin: {len(CASES)} hostile uploads in {elapsed:.1f} s, parent RSS +{grown} KiB")


def test_the_admin_imports_a_normal_xlsx_after_the_hostile_ones(head):
    _upload(head, "range.xlsx", huge_used_range())
    r = _upload(head, "good.xlsx", GOOD_XLSX)
    assert "/admin/import/preview/" in r.headers["Location"]
    token = r.headers["Location"].split("/preview/")[1].split("?")[0]
    assert "+79161112233" in head.get(r.headers["Location"]).get_data(as_text=True)
    done = head.post(f"/admin/import/run/{token}", data={"csrf_token": csrf(head, "/admin/import/"),
                                                         "list": "Good", "map_phone": "0"})
    assert "1 добавлено" in done.get_data(as_text=True)


def test_the_admin_refuses_a_file_over_the_size_cap(head):
    r = _upload(head, "big.csv", b"phone\n" + b"1" * LIMITS.file_bytes)
    assert r.status_code in (302, 413)  # 413: a request body limit in front of the view
    assert head.get("/admin/import/").status_code == 200


def test_uploads_past_the_concurrent_readers_wait_then_are_told_to_retry(admin_app, head, monkeypatch):  # noqa: F811
    """At most LIMITS.readers children at once, the call-list and the client import pages
    together: the admin's memory for imports is bounded."""
    import threading

    import admin.import_view as import_view

    monkeypatch.setattr(import_view, "LIMITS", dataclasses.replace(LIMITS, queue_seconds=0.1))
    readers = admin_app.extensions.setdefault("pbx_crm_table_readers",
                                              threading.BoundedSemaphore(LIMITS.readers))
    for _ in range(LIMITS.readers):
        readers.acquire()
    try:
        _upload(head, "good.xlsx", GOOD_XLSX)
        busy = "Сейчас читаются другие файлы; попробуйте через минуту."
        assert busy in head.get("/admin/import/").get_data(as_text=True)
        owner = login(admin_app, "owner")  # the client import page, for a user it serves
        r = owner.post("/admin/import-clients/", data={
            "csrf_token": csrf(owner, "/admin/import-clients/"), "file": (io.BytesIO(GOOD_XLSX), "good.xlsx")},
            content_type="multipart/form-data")
        assert r.status_code == 302 and "/preview/" not in r.headers["Location"]
        assert busy in owner.get("/admin/import-clients/").get_data(as_text=True)
    finally:
        for _ in range(LIMITS.readers):
            readers.release()
    assert "/preview/" in _upload(head, "good.xlsx", GOOD_XLSX).headers["Location"]


# ---- the CLI ----------------------------------------------------------------------------------

def test_the_cli_refuses_every_hostile_file_in_one_line(env, tmp_path, capsys):  # noqa: F811
    for case in CASES:
        filename, build, words = CORPUS[case]
        path = tmp_path / filename
        path.write_bytes(build())
        assert main(["import-list", str(path), "--list", "x", "--dry-run"]) == 1, case
        err = capsys.readouterr().err
        assert err.startswith("pbx-crm: ") and err.count("\n") == 1 and words in err, (case, err)
