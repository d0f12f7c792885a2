"""sipp as the lab's trunk: an independent SIP peer that places a burst of PSTN calls at
the lab PBX (``bench/sipp/*.xml``), and what it measured, read back from its files.

The PBX knows its trunk by source address only (``trunk_ip``, see ``asterisk_conf/
pjsip.conf``). The world instance already listens on ``trunk_ip:pbx_sip_port``, so sipp
binds the same address on a port of its own; the PBX answers to the Via's address.

What sipp leaves in its work directory:

* ``-trace_rtt``: ``Date_ms;response_time_ms;rtd_no``, one row per call and timer
  (``ring``: INVITE -> 180, ``answer``: INVITE -> 200). sipp reads
  ``CLOCK_MONOTONIC_COARSE``, so times come in steps of the kernel's tick (4 ms here).
* ``-trace_stat``: one row per ``-fd`` period and a last one at exit, with cumulative
  ``(C)`` columns: ``SuccessfulCall(C)``, ``FailedCall(C)``, the failure kinds and the
  scenario's counters (``Cancelled(C)``, ``Answered(C)``, ``PbxHungUp(C)``).

Parsing and the command line are pure; :func:`run_sipp` is the one process.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pbx_daemon.lab.settings import LabError

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "bench" / "sipp"
SCENARIOS = ("giveup", "answer")


def caller_numbers(burst: int, count: int) -> list[str]:
    """``count`` distinct unknown mobile numbers for burst number ``burst`` (0-99):
    ``+7903`` + two digits of burst + five of call, so no two bursts share a caller."""
    if not (0 <= burst <= 99 and 0 < count <= 99_999):
        raise LabError("burst must be 0..99 and count 1..99999")
    return [f"+7903{burst:02d}{i:05d}" for i in range(1, count + 1)]


def injection_file(numbers: list[str]) -> str:
    """sipp's ``-inf`` file: read in order, one caller (``[field0]``) per call."""
    return "SEQUENTIAL\n" + "".join(f"{n}\n" for n in numbers)


@dataclass(frozen=True)
class SippBurst:
    """One sipp run: ``count`` calls at ``rate`` per second to ``did``."""

    scenario: str  # giveup | answer
    did: str
    rate: float
    count: int
    giveup: float = 6.0  # seconds of ringing before the CANCEL (giveup only)

    def command(self, pbx: str, trunk_ip: str, port: int, workdir: Path) -> list[str]:
        """The sipp command line; ``pbx`` is ``host:port`` of the PBX's SIP."""
        if self.scenario not in SCENARIOS:
            raise LabError(f"scenario {self.scenario!r}: use {' or '.join(SCENARIOS)}")
        argv = [
            "sipp", pbx, "-sf", str(SCENARIO_DIR / f"{self.scenario}.xml"),
            "-i", trunk_ip, "-p", str(port), "-mi", trunk_ip, "-mp", str(port + 10),
            "-s", self.did, "-inf", str(workdir / "callers.csv"),
            "-r", _number(self.rate), "-m", str(self.count),
            # sipp's default cap on simultaneous calls is small enough to slow a burst.
            "-l", str(self.count),
            "-nostdin", "-trace_err",
            "-trace_stat", "-stf", str(workdir / "stat.csv"), "-fd", "1",
            "-trace_rtt", "-rtt_freq", "1",
            "-trace_screen", "-screen_file", str(workdir / "screen.log"),
            "-error_file", str(workdir / "errors.log"),
        ]
        if self.scenario == "giveup":
            argv += ["-recv_timeout", str(int(self.giveup * 1000))]
        return argv


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


@dataclass
class SippResult:
    stat: dict[str, str]
    rtt: dict[str, list[float]]
    returncode: int
    workdir: Path

    def counter(self, name: str) -> int:
        """A cumulative column of the last stat row (``SuccessfulCall``, ``Cancelled``)."""
        return int(self.stat.get(f"{name}(C)") or 0)

    @property
    def attempted(self) -> int:
        return self.counter("OutgoingCall")

    @property
    def completed(self) -> int:
        return self.counter("SuccessfulCall")

    def failures(self) -> dict[str, int]:
        """Why calls failed, by sipp's kind (``UnexpectedMessage``: an error response)."""
        return {name.removeprefix("Failed").removesuffix("(C)"): int(v)
                for name, v in self.stat.items()
                if name.startswith("Failed") and name.endswith("(C)")
                and name != "FailedCall(C)" and v and int(v)}


def parse_rtt(text: str) -> dict[str, list[float]]:
    """``-trace_rtt`` rows -> response times in ms by timer name."""
    out: dict[str, list[float]] = {}
    for line in text.splitlines()[1:]:
        parts = line.strip().split(";")
        if len(parts) < 3 or not parts[2]:
            continue
        try:
            value = float(parts[1])
        except ValueError:
            continue
        out.setdefault(parts[2], []).append(value)
    return out


def parse_stat(text: str) -> dict[str, str]:
    """The last row of a ``-trace_stat`` file, by column name (rows end in a ``;``)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        return {}
    header = lines[0].rstrip(";").split(";")
    row = lines[-1].rstrip(";").split(";")
    return dict(zip(header, row))


def percentile(values: list[float], p: float) -> float | None:
    """Nearest rank: the smallest value with at least ``p`` % of the values at or below
    it (p99 of 100 calls is the 99th fastest). None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def run_sipp(burst: SippBurst, callers: list[str], *, pbx: str, trunk_ip: str, port: int,
             workdir: Path) -> SippResult:
    """Place the burst and wait until sipp has ended every call (it exits then)."""
    if shutil.which("sipp") is None:
        raise LabError("sipp is not installed (Debian package sip-tester; scripts/setup.sh)")
    if len(callers) != burst.count:
        raise LabError("one caller number per call")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "callers.csv").write_text(injection_file(callers))
    # Ringing, the give-up, the CANCEL's answers (32 s at most) and sipp's own exit.
    timeout = burst.count / burst.rate + burst.giveup + 120
    with open(workdir / "sipp.out", "w") as out:
        # sipp writes its -trace_rtt file as <scenario>_<pid>_rtt.csv in its cwd.
        proc = subprocess.run(burst.command(pbx, trunk_ip, port, workdir), cwd=workdir,
                              stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
    if proc.returncode > 1:  # 0: all calls succeeded, 1: some failed, else: sipp failed
        raise LabError(f"sipp exited with {proc.returncode}; see {workdir / 'sipp.out'}")
    rtt_files = sorted(workdir.glob(f"{burst.scenario}_*_rtt.csv"))
    stat_file = workdir / "stat.csv"
    return SippResult(
        stat=parse_stat(stat_file.read_text()) if stat_file.exists() else {},
        rtt=parse_rtt(rtt_files[-1].read_text()) if rtt_files else {},
        returncode=proc.returncode, workdir=workdir)
