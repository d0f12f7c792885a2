"""The routing policy as tables of cases: caller + directory -> ring steps."""

from __future__ import annotations

import pytest

from pbx_daemon.telephony.routing.policy import (
    Agent,
    Caller,
    DepartmentInfo,
    Directory,
    StepTimeouts,
    plan_route,
)

# Sales (dept 1): manager Anna 101, manager Boris 102, head Vera 103; parent is Management
# (dept 3, head Gleb 301). Support (dept 2): Dina 201, head Egor 203. Owner of the
# company: Oleg 900.
AGENTS = {
    1: Agent(1, "Anna", "101", 1), 2: Agent(2, "Boris", "102", 1), 3: Agent(3, "Vera", "103", 1),
    4: Agent(4, "Dina", "201", 2), 5: Agent(5, "Egor", "203", 2),
    6: Agent(6, "Gleb", "301", 3), 9: Agent(9, "Oleg", "900", None),
}
DEPTS = {
    1: DepartmentInfo(1, "Sales", (1, 2, 3), head_id=3, parent_id=3, fallback_endpoints=("101", "102")),
    2: DepartmentInfo(2, "Support", (4, 5), head_id=5, timeouts=StepTimeouts(0, 5, 0, 0)),
    3: DepartmentInfo(3, "Management", (6,), head_id=6),
}
DEFAULTS = StepTimeouts(10, 15, 15, 20)


def directory(**changes) -> Directory:
    agents = dict(AGENTS)
    for agent_id, fields in changes.items():
        a = agents[int(agent_id.removeprefix("a"))]
        agents[a.id] = Agent(**{**a.__dict__, **fields})
    return Directory(agents=agents, departments=DEPTS, escalation_top_id=9, default_department_id=1)


def steps(plan):
    return [(s.label, s.timeout, s.endpoints) for s in plan.steps]


CASES = [
    ("known client of Anna: Anna alone, then Sales, then head added, then up the chain",
     Caller("+79161234567", owner_id=1), {}, [
         ("owner", 10, ("101",)),
         ("group", 15, ("101", "102")),
         ("head", 15, ("101", "102", "103")),
         ("escalation", 20, ("101", "102", "103", "301")),
         ("top", 20, ("101", "102", "103", "301", "900")),
     ]),
    ("unknown caller to Support's number: Support's group first (its own 5 s)",
     Caller(None, department_id=2), {}, [
         ("group", 5, ("201",)),
         ("head", 15, ("201", "203")),
         ("top", 20, ("201", "203", "900")),
     ]),
    ("Anna on DND: her step is skipped",
     Caller("+79161234567", owner_id=1), {"a1": {"dnd": True}}, [
         ("group", 15, ("102",)),
         ("head", 15, ("102", "103")),
         ("escalation", 20, ("102", "103", "301")),
         ("top", 20, ("102", "103", "301", "900")),
     ]),
    ("Anna already on a call: skipped the same way",
     Caller("+79161234567", owner_id=1), {"a1": {"busy": True}},
     [("group", 15, ("102",)), ("head", 15, ("102", "103")),
      ("escalation", 20, ("102", "103", "301")), ("top", 20, ("102", "103", "301", "900"))]),
    ("Anna and Boris off shift: the empty group step is skipped, the head rings at once",
     Caller("+79161234567", owner_id=1), {"a1": {"on_shift": False}, "a2": {"on_shift": False}},
     [("head", 15, ("103",)), ("escalation", 20, ("103", "301")),
      ("top", 20, ("103", "301", "900"))]),
    ("owner of the card is in Support: routing follows the owner's department",
     Caller("+79161234567", owner_id=4, department_id=1), {},
     [("owner", 10, ("201",)), ("head", 15, ("201", "203")), ("top", 20, ("201", "203", "900"))]),
    ("owner without a phone: straight to the group",
     Caller("+79161234567", owner_id=2), {"a2": {"endpoint": None}},
     [("group", 15, ("101",)), ("head", 15, ("101", "103")),
      ("escalation", 20, ("101", "103", "301")), ("top", 20, ("101", "103", "301", "900"))]),
    ("inactive (fired) owner: skipped",
     Caller("+79161234567", owner_id=1), {"a1": {"active": False}},
     [("group", 15, ("102",)), ("head", 15, ("102", "103")),
      ("escalation", 20, ("102", "103", "301")), ("top", 20, ("102", "103", "301", "900"))]),
    ("no tracking number, unknown caller: the default department",
     Caller("+79161234567"), {},
     [("group", 15, ("101", "102")), ("head", 15, ("101", "102", "103")),
      ("escalation", 20, ("101", "102", "103", "301")),
      ("top", 20, ("101", "102", "103", "301", "900"))]),
]


@pytest.mark.parametrize("what,caller,changes,expected", CASES, ids=[c[0] for c in CASES])
def test_policy(what, caller, changes, expected):
    assert steps(plan_route(caller, directory(**changes), DEFAULTS)) == expected


def test_blocked_caller_rings_nobody():
    plan = plan_route(Caller("+79161234567", blocked=True, owner_id=1), directory(), DEFAULTS)
    assert plan.blocked and plan.steps == ()


def test_nobody_available_leaves_only_the_fallback_group():
    everyone_away = {f"a{i}": {"dnd": True} for i in AGENTS}
    plan = plan_route(Caller("+79161234567", owner_id=1), directory(**everyone_away), DEFAULTS)
    assert plan.steps == () and plan.fallback_endpoints == ("101", "102")


def test_department_cycle_does_not_loop_forever():
    depts = {1: DepartmentInfo(1, "A", (1,), parent_id=2), 2: DepartmentInfo(2, "B", (2,), head_id=2, parent_id=1)}
    plan = plan_route(Caller(None, department_id=1),
                      Directory(agents=AGENTS, departments=depts), DEFAULTS)
    assert steps(plan) == [("group", 15, ("101",)), ("escalation", 20, ("101", "102"))]


def test_crm_name_travels_with_the_plan():
    plan = plan_route(Caller("+79161234567", owner_id=1, crm_name="ООО Ромашка"), directory(), DEFAULTS)
    assert plan.caller_name == "ООО Ромашка" and plan.department_id == 1


def test_step_timeouts_come_from_the_config_routing_section():
    from pbx_daemon.config import load_config

    routing = load_config(None, {}).routing
    assert StepTimeouts.from_config(routing) == StepTimeouts(
        routing.owner_timeout, routing.group_timeout, routing.head_timeout, routing.top_timeout)


def mobiles(plan):
    return [(s.label, s.mobiles) for s in plan.steps]


MOBILE_CASES = [
    ("Anna follows to her mobile: it rings in her step and every later one",
     Caller("+79161234567", owner_id=1), {"a1": {"mobile": "+79160000001", "mobile_delay": 5}},
     [("owner", ((1, "+79160000001", 5),)), ("group", ((1, "+79160000001", 5),)),
      ("head", ((1, "+79160000001", 5),)), ("escalation", ((1, "+79160000001", 5),)),
      ("top", ((1, "+79160000001", 5),))]),
    ("Boris follows: his mobile joins with him in the group step, not in Anna's own",
     Caller("+79161234567", owner_id=1), {"a2": {"mobile": "+79160000002", "mobile_delay": 0}},
     [("owner", ()), ("group", ((2, "+79160000002", 0),)), ("head", ((2, "+79160000002", 0),)),
      ("escalation", ((2, "+79160000002", 0),)), ("top", ((2, "+79160000002", 0),))]),
    ("Anna on DND: neither her phone nor her mobile rings",
     Caller("+79161234567", owner_id=1),
     {"a1": {"mobile": "+79160000001", "dnd": True}},
     [("group", ()), ("head", ()), ("escalation", ()), ("top", ())]),
]


@pytest.mark.parametrize("what,caller,changes,expected", MOBILE_CASES,
                         ids=[c[0] for c in MOBILE_CASES])
def test_mobiles(what, caller, changes, expected):
    assert mobiles(plan_route(caller, directory(**changes), DEFAULTS)) == expected


HOLD_DEPTS = {**DEPTS, 2: DepartmentInfo(2, "Support", (4, 5), head_id=5, hold_seconds=60,
                                          timeouts=StepTimeouts(0, 5, 0, 0))}
HOLD_CASES = [
    ("Support holds, both phones busy: the caller may wait for 201 or 203",
     {"a4": {"busy": True}, "a5": {"busy": True}}, HOLD_DEPTS, (60, ("201", "203"))),
    ("one busy, one on DND: wait for the busy one only",
     {"a4": {"busy": True}, "a5": {"dnd": True}}, HOLD_DEPTS, (60, ("201",))),
    ("nobody there (off shift / DND): no hold, nothing would free up",
     {"a4": {"on_shift": False}, "a5": {"dnd": True}}, HOLD_DEPTS, (0, ())),
    ("someone free: the call rings, no hold",
     {"a4": {"busy": True}}, HOLD_DEPTS, (0, ())),
    ("Support does not hold (0): everyone busy is missed as before",
     {"a4": {"busy": True}, "a5": {"busy": True}}, DEPTS, (0, ())),
]


@pytest.mark.parametrize("what,changes,depts,expected", HOLD_CASES, ids=[c[0] for c in HOLD_CASES])
def test_hold_only_when_everyone_is_busy(what, changes, depts, expected):
    agents = dict(AGENTS)
    agents[9] = Agent(9, "Oleg", "900", None, busy=True)
    for key, fields in changes.items():
        a = agents[int(key[1:])]
        agents[a.id] = Agent(**{**a.__dict__, **fields})
    d = Directory(agents=agents, departments=depts, escalation_top_id=9, default_department_id=1)
    plan = plan_route(Caller(None, department_id=2), d, DEFAULTS)
    hold = plan.hold_step.endpoints if plan.hold_step else ()
    assert (plan.hold_seconds, hold) == expected
    if plan.hold_step:
        assert plan.hold_step.label == "hold" and plan.hold_step.timeout == 5  # Support's own
