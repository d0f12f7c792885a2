"""Reading an untrusted file in a child process, so that a crash or a blow-up costs only
that read: the admin keeps serving every other request and screen-pop stream.

Protocol (one child per read): ``python -m pbx_daemon.crm.table_sandbox TARGET NAME
LIMITS_JSON``, the file's bytes on stdin. The child first limits itself (RLIMIT_AS to
``memory_bytes``, RLIMIT_CPU to ``seconds``, no core file), then calls TARGET
(``module:function``, ``function(data, name, limits)``) and writes one JSON object on
stdout: ``{"value": ..., "peak_kib": N}`` or ``{"error": "one line", "peak_kib": N}``.
The parent waits at most ``seconds`` (wall clock), then kills it. JSON, not pickle: the
parent runs nothing the child sends.
"""

from __future__ import annotations

import dataclasses
import gc
import importlib
import json
import resource
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pbx_daemon.crm.bulk import collector_paused
from pbx_daemon.crm.import_limits import LIMITS, ImportLimits
from pbx_daemon.crm.tables import ImportError_

READ_TABLE = "pbx_daemon.crm.tables:read_table_value"
_ROOT = Path(__file__).resolve().parents[2]  # holds the pbx_daemon package


@dataclass(frozen=True)
class Outcome:
    value: object
    peak_kib: int  # the child's peak resident size
    seconds: float


def read_table_isolated(data: bytes, name: str = "file",
                        limits: ImportLimits = LIMITS) -> tuple[list[str], list[list[str]]]:
    """:func:`pbx_daemon.crm.tables.read_table_bytes` in a limited child process."""
    value = run_isolated(READ_TABLE, data, name, limits).value
    if not (isinstance(value, dict) and isinstance(value.get("headers"), list)
            and isinstance(value.get("rows"), list)):
        raise ImportError_(f"the reader sent no table for {name}")
    return value["headers"], value["rows"]


def run_isolated(target: str, data: bytes, name: str, limits: ImportLimits = LIMITS) -> Outcome:
    """TARGET's JSON value, or :class:`ImportError_` with one line saying why not (and
    the child's stderr as its ``detail``)."""
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pbx_daemon.crm.table_sandbox", target, name,
         json.dumps(dataclasses.asdict(limits))],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=_ROOT)
    try:
        out, err = proc.communicate(data, timeout=limits.seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise ImportError_(f"reading {name} took longer than {limits.seconds:g} s; split the file") from None
    elapsed = time.monotonic() - started
    stderr = err[-1000:].decode("utf-8", "replace")
    if proc.returncode < 0:
        if -proc.returncode == signal.SIGXCPU:
            raise _error(f"reading {name} took longer than {limits.seconds:g} s; split the file", stderr)
        try:
            sig = signal.Signals(-proc.returncode).name
        except ValueError:
            sig = f"signal {-proc.returncode}"
        raise _error(f"the reader crashed on {name} ({sig}): not a file it can read", stderr)
    try:
        with collector_paused():  # 100,000 rows: a million objects, nothing cyclic
            result = json.loads(out)
        if not isinstance(result, dict):
            raise ValueError(result)
    except ValueError:
        raise _error(f"the reader failed on {name} (exit {proc.returncode})", stderr) from None
    if "error" in result:
        raise _error((str(result["error"]).splitlines() or ["unreadable"])[0], stderr,
                     int(result.get("peak_kib", 0)))
    return Outcome(result.get("value"), int(result.get("peak_kib", 0)), elapsed)


def _limit_self(limits: ImportLimits) -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    cpu = max(1, int(limits.seconds) + 1)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))


def _error(text: str, stderr: str = "", peak_kib: int = 0) -> ImportError_:
    """A refusal; ``detail`` (the child's stderr: a traceback, a Rust panic) and
    ``peak_kib`` are for the caller's log, not for the user."""
    error = ImportError_(text)
    error.detail, error.peak_kib = stderr, peak_kib
    return error


def _peak_kib() -> int:
    """This process's peak RSS since exec (VmHWM; ru_maxrss would count the parent's
    pages this process had between fork and exec)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main(argv: list[str]) -> int:
    """The child: limit itself, read stdin, run the target, answer in JSON."""
    target, name, limits_json = argv
    limits = ImportLimits(**json.loads(limits_json))
    _limit_self(limits)
    # One read and exit: the rows live until the end, and the cyclic collector walking
    # them again and again cost a third of a 100,000-row read (there are no cycles to free).
    gc.disable()
    data = sys.stdin.buffer.read(limits.file_bytes + 1)
    module, _, function = target.partition(":")
    try:
        answer = {"value": getattr(importlib.import_module(module), function)(data, name, limits)}
        text = json.dumps(answer, ensure_ascii=False)
    except ImportError_ as e:
        text = None
        answer = {"error": str(e)}
    except MemoryError:
        text = answer = None
    if text is None:
        answer = answer or {"error": f"reading {name} needs more than "
                                     f"{limits.describe_bytes(limits.memory_bytes)} of memory"}
        answer["peak_kib"] = _peak_kib()
        text = json.dumps(answer, ensure_ascii=False)
    else:
        # The peak is known only now; appended without re-encoding the table.
        text = text[:-1] + f', "peak_kib": {_peak_kib()}}}'
    sys.stdout.buffer.write(text.encode("utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
