"""The line of waiting callers as a table: positions and who gets a freed phone."""

from __future__ import annotations

import pytest

from pbx_daemon.telephony.calls.line import Waiter, assign, position

A = Waiter("a", 1, ("101", "102"))
B = Waiter("b", 1, ("101", "102"))
C = Waiter("c", 2, ("201",))
D = Waiter("d", 1, ("102",))

POSITIONS = [
    ("alone: next in line", [A], "a", 1),
    ("second of the same department", [A, B], "b", 2),
    ("another department's caller does not count", [A, C], "c", 1),
    ("counted among one's own department only", [A, C, B], "b", 2),
    ("not waiting", [A], "z", None),
]


@pytest.mark.parametrize("what,line,call_id,expected", POSITIONS, ids=[p[0] for p in POSITIONS])
def test_position(what, line, call_id, expected):
    assert position(line, call_id) == expected


ASSIGNMENTS = [
    ("101 frees: the first caller gets it", [A, B], {"102"}, (("a", "101"),)),
    ("both free: one each, in order", [A, B], set(), (("a", "101"), ("b", "102"))),
    ("nothing free: nobody moves", [A, B], {"101", "102"}, ()),
    ("a later caller cannot overtake for the same phone", [D, A], {"101"}, (("d", "102"),)),
    ("a freed phone of another department is not theirs", [A, C], {"101", "102"},
     (("c", "201"),)),
    ("the first caller's phone is taken: the next one may still get another",
     [D, B], {"101"}, (("d", "102"),)),
]


@pytest.mark.parametrize("what,line,busy,expected", ASSIGNMENTS, ids=[a[0] for a in ASSIGNMENTS])
def test_assign(what, line, busy, expected):
    assert assign(line, frozenset(busy)) == expected
