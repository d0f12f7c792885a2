"""``pbx-crm status``: the daemon's ``/metrics`` as one screen for ops.

:func:`summarise` is pure (Prometheus text in, plain lines out); the command fetches the
text from the running daemon's API (``api_client.fetch_metrics``) and prints the lines.
A figure the daemon did not report (an older daemon, or a part not running) reads ``?``.
"""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

DIRECTIONS = (("inbound", "inbound"), ("click_to_call", "click-to-call"),
              ("desk_phone", "desk phone"), ("adopted", "adopted"))


class Figures:
    """Samples by name, each a list of (labels, value)."""

    def __init__(self, text: str):
        self.samples: dict[str, list[tuple[dict, float]]] = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                self.samples.setdefault(s.name, []).append((s.labels, s.value))

    def total(self, name: str, **labels) -> float | None:
        found = [v for have, v in self.samples.get(name, ())
                 if all(have.get(k) == want for k, want in labels.items())]
        return sum(found) if found else None

    def by(self, name: str, label: str) -> dict[str, float]:
        out: dict[str, float] = {}
        for have, v in self.samples.get(name, ()):
            out[have.get(label, "")] = out.get(have.get(label, ""), 0.0) + v
        return out


def _n(value: float | None) -> str:
    return "?" if value is None else f"{value:.0f}"


def _seconds(value: float) -> str:
    if value < 120:
        return f"{value:.0f} s"
    if value < 7200:
        return f"{value / 60:.0f} min"
    return f"{value / 3600:.1f} h"


def summarise(text: str) -> list[str]:
    """The key figures of a ``/metrics`` page, one line per part of the daemon."""
    f = Figures(text)
    lines = []

    connected = f.total("pbx_crm_ari_connected")
    state = {None: "?", 1.0: "connected", 0.0: "DISCONNECTED"}.get(connected, "?")
    lines.append(f"ARI         {state}; {_n(f.total('pbx_crm_ari_requests_total'))} requests, "
                 f"{_n(f.total('pbx_crm_ari_retries_total'))} retries, "
                 f"{_n(f.total('pbx_crm_ari_failures_total'))} failed, "
                 f"{_n(f.total('pbx_crm_ari_requests_in_flight'))} in flight")

    ari_count = f.total("pbx_crm_ari_request_seconds_count")
    if ari_count:
        mean = 1000 * f.total("pbx_crm_ari_request_seconds_sum") / ari_count
        lines[-1] += f", mean {mean:.0f} ms"

    now = f.by("pbx_crm_calls_in_progress", "direction")
    lines.append("calls now   " + ", ".join(f"{_n(now.get(key))} {label}"
                                            for key, label in DIRECTIONS))
    ended = f.by("pbx_crm_calls_ended_total", "outcome")
    outcomes = ", ".join(f"{_n(v)} {k}" for k, v in sorted(ended.items(), key=lambda kv: -kv[1]))
    lines.append(f"calls ended {_n(sum(ended.values()))} since start"
                 + (f" ({outcomes})" if outcomes else ""))

    count = f.total("pbx_crm_routing_decision_seconds_count")
    total = f.total("pbx_crm_routing_decision_seconds_sum")
    if count:
        timeouts = f.total("pbx_crm_routing_decision_seconds_count", result="timeout") or 0
        errors = f.total("pbx_crm_routing_decision_seconds_count", result="error") or 0
        lines.append(f"routing     {_n(count)} decisions, mean {1000 * total / count:.0f} ms, "
                     f"{_n(timeouts)} timed out (fallback rang), {_n(errors)} failed")
    else:
        lines.append("routing     no decisions yet")

    lines.append(f"store       {_n(f.total('pbx_crm_store_writes_waiting'))} writes waiting; "
                 f"{_n(f.total('pbx_crm_store_retries_total'))} retries, "
                 f"{_n(f.total('pbx_crm_store_dropped_total'))} dropped, "
                 f"{_n(f.total('pbx_crm_store_batches_total'))} batches")

    lag = f.total("pbx_crm_reconcile_lag_seconds")
    runs = f.total("pbx_crm_reconcile_runs_total")
    lines.append("reconcile   " + (f"last run finished {_seconds(lag)} ago" if lag is not None
                                   else "no run finished yet") + f" ({_n(runs)} runs)")

    up = f.total("pbx_crm_screen_pop_redis_up")
    redis = {None: "?", 1.0: "Redis up", 0.0: "Redis DOWN"}.get(up, "?")
    lines.append(f"screen-pop  {redis}; {_n(f.total('pbx_crm_screen_pop_outages_total'))} "
                 f"outages, {_n(f.total('pbx_crm_screen_pop_dropped_total'))} events dropped")
    return lines
