"""The CEL reader: only new, complete lines; rotation by rename (with the handle held, and
after a restart), truncation, and starting again from a stored position."""

from __future__ import annotations

import os

from pbx_daemon.telephony.cel_tail import CelTail, Position


def texts(lines):
    return [line.text for line in lines]


def append(path, *lines, end="\n"):
    with open(path, "a") as f:
        f.write("\n".join(lines) + end)


def test_each_read_returns_only_the_lines_written_since(tmp_path):
    path = tmp_path / "pbx-crm.jsonl"
    append(path, "a1", "a2")
    tail = CelTail(path)
    assert texts(tail.read()) == ["a1", "a2"]
    assert tail.read() == []
    append(path, "a3")
    assert texts(tail.read()) == ["a3"]


def test_a_line_still_being_written_waits_for_its_newline(tmp_path):
    path = tmp_path / "pbx-crm.jsonl"
    append(path, "a1", "a2-half", end="")
    tail = CelTail(path)
    assert texts(tail.read()) == ["a1"]
    assert tail.end().offset == 3
    append(path, "-done")
    assert texts(tail.read()) == ["a2-half-done"]


def test_lines_carry_where_they_start(tmp_path):
    path = tmp_path / "pbx-crm.jsonl"
    append(path, "one", "three")
    tail = CelTail(path)
    lines = tail.read()
    assert [(line.generation, line.offset) for line in lines] == [(0, 0), (0, 4)]
    assert tail.position(0, 4) == Position(os.stat(path).st_ino, tail.end().head, 4)


def test_reads_come_in_chunks_of_whole_lines(tmp_path):
    path = tmp_path / "pbx-crm.jsonl"
    append(path, *[f"line-{i:03d}" for i in range(100)])
    tail = CelTail(path)
    got = []
    while chunk := tail.read(max_bytes=50):
        assert len(chunk) <= 6
        got += texts(chunk)
    assert got == [f"line-{i:03d}" for i in range(100)]
    append(path, "x" * 200)  # one line longer than a chunk still comes whole
    assert texts(tail.read(max_bytes=50)) == ["x" * 200]


def test_rotation_by_rename_finishes_the_old_file_then_reads_the_new_one(tmp_path):
    path = tmp_path / "pbx-crm.jsonl"
    append(path, "old-1")
    tail = CelTail(path)
    assert texts(tail.read()) == ["old-1"]
    append(path, "old-2")  # written before logrotate renamed it, not read yet
    os.rename(path, tmp_path / "pbx-crm.jsonl.1")
    append(path, "new-1")  # Asterisk opens the path again for its next event
    assert texts(tail.read()) == ["old-2"]
    lines = tail.read()
    assert texts(lines) == ["new-1"] and (lines[0].generation, lines[0].offset) == (1, 0)


def test_rotated_and_removed_at_once_is_still_read_through_the_open_handle(tmp_path):
    path = tmp_path / "pbx-crm.jsonl"
    append(path, "old-1")
    tail = CelTail(path)
    tail.read()
    append(path, "old-2")
    os.rename(path, tmp_path / "pbx-crm.jsonl.1")
    os.unlink(tmp_path / "pbx-crm.jsonl.1")  # compressed at once: the plain file is gone
    append(path, "new-1")
    assert texts(tail.read()) + texts(tail.read()) == ["old-2", "new-1"]


def test_renamed_with_no_new_file_yet_keeps_reading_the_old_one(tmp_path):
    path = tmp_path / "pbx-crm.jsonl"
    append(path, "old-1")
    tail = CelTail(path)
    tail.read()
    os.rename(path, tmp_path / "pbx-crm.jsonl.1")  # logrotate nocreate, no event since
    assert tail.read() == []
    append(path, "new-1")
    assert texts(tail.read()) == ["new-1"]


def test_truncation_starts_the_file_again_from_the_start(tmp_path):
    path = tmp_path / "pbx-crm.jsonl"
    append(path, "old-1", "old-2")
    tail = CelTail(path)
    tail.read()
    with open(path, "w"):
        pass  # copytruncate with no copy kept
    append(path, "new-1")
    assert texts(tail.read()) == ["new-1"]


def test_truncated_and_refilled_past_our_offset_is_noticed_by_its_first_line(tmp_path):
    path = tmp_path / "pbx-crm.jsonl"
    append(path, "old-1")
    tail = CelTail(path)
    tail.read()
    with open(path, "w") as f:
        f.write("new-1 longer than the old file\nnew-2\n")
    assert texts(tail.read()) == ["new-1 longer than the old file", "new-2"]


def test_copytruncate_reads_the_rest_of_the_copy_first(tmp_path):
    path = tmp_path / "pbx-crm.jsonl"
    append(path, "old-1")
    tail = CelTail(path)
    tail.read()
    append(path, "old-2")
    (tmp_path / "pbx-crm.jsonl.1").write_bytes(path.read_bytes())  # logrotate's copy
    with open(path, "w"):
        pass  # ... and truncate
    append(path, "new-1")
    assert texts(tail.read()) + texts(tail.read()) == ["old-2", "new-1"]


def test_a_restart_goes_on_from_the_stored_position(tmp_path):
    path = tmp_path / "pbx-crm.jsonl"
    append(path, "a1", "a2", "a3")
    first = CelTail(path)
    lines = first.read()
    stored = first.position(lines[1].generation, lines[1].offset)  # "read a2 again"
    first.close()
    append(path, "a4")
    assert texts(CelTail(path, stored).read()) == ["a2", "a3", "a4"]


def test_a_restart_after_a_rotation_finds_the_stored_file_by_its_inode(tmp_path):
    path = tmp_path / "pbx-crm.jsonl"
    append(path, "old-1", "old-2")
    first = CelTail(path)
    lines = first.read()
    stored = first.position(0, lines[1].offset)
    first.close()
    append(path, "old-3")
    os.rename(path, tmp_path / "pbx-crm.jsonl-20261120")
    (tmp_path / "pbx-crm.jsonl.2.gz").write_bytes(b"compressed, never read")
    append(path, "new-1")
    tail = CelTail(path, stored)
    assert texts(tail.read()) + texts(tail.read()) == ["old-2", "old-3", "new-1"]


def test_a_restart_whose_file_is_gone_reads_the_current_file_from_the_start(tmp_path):
    path = tmp_path / "pbx-crm.jsonl"
    append(path, "old-1", "old-2")
    first = CelTail(path)
    first.read()
    stored = first.end()
    first.close()
    os.unlink(path)
    append(path, "new-1")  # may even get the old inode back: the first line tells them apart
    messages = []
    assert texts(CelTail(path, stored, log=messages.append).read()) == ["new-1"]
    assert any("gone" in m for m in messages)


def test_no_file_yet_reads_nothing_until_it_appears(tmp_path):
    path = tmp_path / "pbx-crm.jsonl"
    tail = CelTail(path)
    assert tail.read() == [] and tail.end() is None
    append(path, "a1")
    assert texts(tail.read()) == ["a1"]


def test_undecodable_bytes_do_not_stop_the_reader(tmp_path):
    path = tmp_path / "pbx-crm.jsonl"
    path.write_bytes(b"caf\xe9\nnext\n")
    assert texts(CelTail(path).read()) == ["caf\ufffd", "next"]
