"""The routing policy: a pure function from the caller, the directory and the time to
ordered ring steps (seed 004, "интеллектуальный менеджер звонков").

Known caller with a responsible manager:
  1. that manager alone (owner_timeout, default 10 s);
  2. the department ring group, every available member at once (group_timeout);
  3. the head of department **added**, the group keeps ringing (head_timeout);
  4. each level up **added** in turn: the head of the parent department, its parent's...,
     and finally the company's escalation top, the owner (top_timeout).
Unknown caller: straight to step 2 for the department of the dialled tracking number.
Outside the dialled number's working hours (the lookup found them closed): no steps, the
after-hours path (greeting, voicemail); a blocklisted caller is refused first.

An employee with follow-me on (``mobile``) also has their mobile rung in every step
they ring in, ``mobile_delay`` seconds after their first step starts (the executor asks
them to press 1 before the call counts as answered).

When no step is left because every one of the department's people is on a call (not
when nobody is there at all) and the department holds callers (``hold_seconds``), the
plan carries a ``hold_step``: the caller waits, and the first of its phones that frees up
rings (:mod:`pbx_daemon.telephony.calls.line`).

Employees off duty (schedule, absence, "off now": :mod:`pbx_daemon.crm.duty`), on DND, inactive,
already on a call or whose phone is not reachable are skipped; a step that adds
nobody is skipped, not waited out. A blocklisted caller gets no steps at all. Each step
lists every endpoint that rings during it: the executor adds and removes legs by
comparing consecutive steps.

No I/O here: :mod:`pbx_daemon.telephony.routing.directory` fetches the snapshot first
(:func:`~pbx_daemon.telephony.routing.lookup.look_up`), then this decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping


@dataclass(frozen=True)
class StepTimeouts:
    owner: int = 10
    group: int = 15
    head: int = 15
    top: int = 20

    @classmethod
    def from_config(cls, routing) -> StepTimeouts:
        """The config's ``[routing]`` section (``config.routing``) -> the defaults."""
        return cls(routing.owner_timeout, routing.group_timeout, routing.head_timeout,
                   routing.top_timeout)


# A department that sets no timeout of its own: the config's [routing] values apply.
UNSET = StepTimeouts(0, 0, 0, 0)


@dataclass(frozen=True)
class Agent:
    """An employee as routing sees them."""

    id: int
    name: str
    endpoint: str | None  # validated PJSIP endpoint name, None when they have no phone
    department_id: int | None = None
    on_shift: bool = True  # on duty now (:func:`pbx_daemon.crm.duty.on_duty`)
    dnd: bool = False
    active: bool = True
    busy: bool = False  # already on a call, or the phone is not reachable
    mobile: str | None = None  # E.164, set only when follow-me is on
    mobile_delay: int = 5  # seconds after their desk phone starts ringing

    @property
    def available(self) -> bool:
        return bool(self.endpoint) and self.active and self.on_shift and not self.dnd \
            and not self.busy


@dataclass(frozen=True)
class DepartmentInfo:
    id: int
    name: str
    member_ids: tuple[int, ...] = ()
    head_id: int | None = None
    parent_id: int | None = None
    timeouts: StepTimeouts = UNSET
    fallback_endpoints: tuple[str, ...] = ()
    hold_seconds: int = 0  # everyone busy: the caller may wait this long (0: off)


@dataclass(frozen=True)
class Directory:
    """Everything routing needs to know about the company, fetched for one call."""

    agents: Mapping[int, Agent] = field(default_factory=dict)
    departments: Mapping[int, DepartmentInfo] = field(default_factory=dict)
    escalation_top_id: int | None = None
    default_department_id: int | None = None


@dataclass(frozen=True)
class Caller:
    """The caller as looked up: number (E.164 or None), CRM name, responsible manager."""

    number: str | None
    blocked: bool = False
    crm_name: str | None = None
    owner_id: int | None = None  # the responsible manager of the matched card
    department_id: int | None = None  # of the dialled tracking number
    is_staff: bool = False
    source_id: int | None = None  # of the dialled tracking number
    tracking_number_id: int | None = None
    card: tuple[str, int] | None = None  # the matched card: ("contact", 12), for screen-pop
    # The dialled number's department is closed now (a .schedule.AfterHours): no ringing.
    after_hours: Any = None


@dataclass(frozen=True)
class RingStep:
    label: str  # owner | group | head | escalation | top | fallback
    timeout: int
    endpoints: tuple[str, ...]
    agent_ids: tuple[int, ...]
    # Follow-me mobiles ringing in this step: (agent id, E.164 number, delay seconds).
    mobiles: tuple[tuple[int, str, int], ...] = ()


@dataclass(frozen=True)
class RoutePlan:
    steps: tuple[RingStep, ...]
    blocked: bool = False
    department_id: int | None = None
    caller_name: str | None = None
    # Rung by the executor when every step is exhausted or nobody was available.
    fallback_endpoints: tuple[str, ...] = ()
    # Outside working hours (a .schedule.AfterHours): greeting and voicemail, no steps.
    after_hours: Any = None
    # No steps because every phone of the department is busy, and it holds callers: the
    # caller may wait ``hold_seconds`` for one of ``hold_step``'s phones to free up, which
    # then rings alone for ``hold_step.timeout``.
    hold_seconds: int = 0
    hold_step: RingStep | None = None

    @property
    def first_endpoints(self) -> tuple[str, ...]:
        return self.steps[0].endpoints if self.steps else ()


def plan_route(caller: Caller, directory: Directory,
               defaults: StepTimeouts = StepTimeouts()) -> RoutePlan:
    if caller.blocked:
        return RoutePlan(steps=(), blocked=True, caller_name=caller.crm_name)
    if caller.after_hours is not None:
        # Closed: nobody rings; the caller hears the greeting and may leave a message.
        return RoutePlan(steps=(), department_id=caller.after_hours.department_id,
                         caller_name=caller.crm_name, after_hours=caller.after_hours)

    agents = directory.agents
    owner = agents.get(caller.owner_id) if caller.owner_id is not None else None
    dept_id = (owner.department_id if owner and owner.department_id is not None
               else caller.department_id if caller.department_id is not None
               else directory.default_department_id)
    dept = directory.departments.get(dept_id) if dept_id is not None else None
    timeouts = _merge(dept.timeouts if dept else UNSET, defaults)

    steps: list[RingStep] = []
    ringing: list[Agent] = []

    def add_step(label: str, timeout: int, new: list[Agent]) -> None:
        fresh = [a for a in new if a.available and a.id not in {r.id for r in ringing}]
        if not fresh:
            return
        ringing.extend(fresh)
        steps.append(RingStep(label, timeout, tuple(a.endpoint for a in ringing),
                              tuple(a.id for a in ringing),
                              tuple((a.id, a.mobile, a.mobile_delay) for a in ringing
                                    if a.mobile)))

    if owner is not None:
        add_step("owner", timeouts.owner, [owner])
    if dept is not None:
        # The head is not part of the ring group: they are added a step later.
        members = [agents[i] for i in dept.member_ids if i in agents and i != dept.head_id]
        add_step("group", timeouts.group, members)
        if dept.head_id in agents:
            add_step("head", timeouts.head, [agents[dept.head_id]])
        seen = {dept.id}
        parent = directory.departments.get(dept.parent_id) if dept.parent_id else None
        while parent is not None and parent.id not in seen:
            seen.add(parent.id)
            if parent.head_id in agents:
                add_step("escalation", timeouts.top, [agents[parent.head_id]])
            parent = directory.departments.get(parent.parent_id) if parent.parent_id else None
    if directory.escalation_top_id in agents:
        add_step("top", timeouts.top, [agents[directory.escalation_top_id]])

    hold = None
    if not steps and dept is not None and dept.hold_seconds > 0:
        busy = _busy_agents(dept, agents)
        if busy:
            hold = RingStep("hold", timeouts.group, tuple(a.endpoint for a in busy),
                            tuple(a.id for a in busy))
    return RoutePlan(
        steps=tuple(steps),
        department_id=dept.id if dept else None,
        caller_name=caller.crm_name,
        fallback_endpoints=dept.fallback_endpoints if dept else (),
        hold_seconds=dept.hold_seconds if hold else 0,
        hold_step=hold,
    )


def _busy_agents(dept: DepartmentInfo, agents: Mapping[int, Agent]) -> list[Agent]:
    """The department's people (members and head) who would ring but for being on a call.
    Empty when nobody is there at all (off shift, DND): then holding is pointless."""
    ids = dict.fromkeys(list(dept.member_ids) + [dept.head_id])
    return [agents[i] for i in ids
            if i in agents and agents[i].busy and replace(agents[i], busy=False).available]


def _merge(specific: StepTimeouts, defaults: StepTimeouts) -> StepTimeouts:
    """Department values where set (non-zero), config defaults otherwise."""
    return StepTimeouts(
        owner=specific.owner or defaults.owner,
        group=specific.group or defaults.group,
        head=specific.head or defaults.head,
        top=specific.top or defaults.top,
    )
