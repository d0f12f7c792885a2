"""The routing policy: a pure function from the caller, the directory and the time to
ordered ring steps (seed 004, "интеллектуальный менеджер звонков").

Known caller with a responsible manager:
  1. that manager alone (owner_timeout, default 10 s);
  2. the department ring group, every available member at once (group_timeout);
  3. the head of department **added**, the group keeps ringing (head_timeout);
  4. each level up **added** in turn: the head of the parent department, its parent's...,
     and finally the company's escalation top, the owner (top_timeout).
Unknown caller: straight to step 2 for the department of the dialled tracking number.

Employees off duty (schedule, absence, "off now": :mod:`pbx_daemon.crm.duty`), on DND, inactive,
already on a call or whose phone is not reachable are skipped; a step that adds
nobody is skipped, not waited out. A blocklisted caller gets no steps at all. Each step
lists every endpoint that rings during it: the executor adds and removes legs by
comparing consecutive steps.

No I/O here: :mod:`pbx_daemon.telephony.routing.directory` fetches the snapshot first
(:func:`~pbx_daemon.telephony.routing.lookup.look_up`), then this decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping


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


@dataclass(frozen=True)
class RingStep:
    label: str  # owner | group | head | escalation | top | fallback
    timeout: int
    endpoints: tuple[str, ...]
    agent_ids: tuple[int, ...]


@dataclass(frozen=True)
class RoutePlan:
    steps: tuple[RingStep, ...]
    blocked: bool = False
    department_id: int | None = None
    caller_name: str | None = None
    # Rung by the executor when every step is exhausted or nobody was available.
    fallback_endpoints: tuple[str, ...] = ()

    @property
    def first_endpoints(self) -> tuple[str, ...]:
        return self.steps[0].endpoints if self.steps else ()


def plan_route(caller: Caller, directory: Directory,
               defaults: StepTimeouts = StepTimeouts()) -> RoutePlan:
    if caller.blocked:
        return RoutePlan(steps=(), blocked=True, caller_name=caller.crm_name)

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
                              tuple(a.id for a in ringing)))

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

    return RoutePlan(
        steps=tuple(steps),
        department_id=dept.id if dept else None,
        caller_name=caller.crm_name,
        fallback_endpoints=dept.fallback_endpoints if dept else (),
    )


def _merge(specific: StepTimeouts, defaults: StepTimeouts) -> StepTimeouts:
    """Department values where set (non-zero), config defaults otherwise."""
    return StepTimeouts(
        owner=specific.owner or defaults.owner,
        group=specific.group or defaults.group,
        head=specific.head or defaults.head,
        top=specific.top or defaults.top,
    )
