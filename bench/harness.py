#!/usr/bin/env python3
"""Load generator and measurements for the usagectx benchmark.

Runs the same four measurements against the C floor and against usagectx, side by side:

1. pipelined throughput (newline framing and Content-Length framing),
2. ping-pong round trip with one request in flight,
3. time from spawn to the first answer,
4. idle resident memory after one request,

then prints a Markdown table with the ratio usagectx/floor and PASS/MISS against the targets.
Progress goes to stderr, the table to stdout. Python 3.11 standard library only.

Every child runs under a watchdog that kills it at its deadline, so a stuck or crashed program turns
into an error cell in the table, never a hang.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

METRIC = "documents"
LIMIT = 100
WRITE_CHUNK = 1 << 20  # bytes per write to the child's stdin in the throughput test
READ_CHUNK = 1 << 20  # bytes asked of each read from the child's stdout
CL_HEADER = b"content-length:"
TAIL = 4096  # bytes kept from the end of the answer stream in the throughput test


class BenchError(Exception):
    """A measurement could not be completed or its answers were wrong."""


# ---------------------------------------------------------------------------------------------------------------
# Requests and answers


def request_body(msg_id: int) -> bytes:
    """The benchmark request (usage/increment on the documents metric), compact JSON."""
    return (
        b'{"jsonrpc":"2.0","id":%d,"method":"usage/increment","params":{"metric":"documents"}}' % msg_id
    )


def frame(body: bytes, framing: str) -> bytes:
    """Frames one message body for the wire."""
    if framing == "newline":
        return body + b"\n"
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


def build_payload(first_id: int, count: int, framing: str) -> bytes:
    """All requests of a pipelined run, ids first_id .. first_id+count-1, in one buffer."""
    return b"".join(frame(request_body(i), framing) for i in range(first_id, first_id + count))


def expected_result(used: int) -> dict:
    """The result usagectx gives after `used` increments, in wire field order."""
    ratio = used / LIMIT
    level = "exceeded" if ratio >= 1.0 else "warning" if ratio >= 0.8 else "ok"
    return {
        "name": METRIC,
        "kind": "count",
        "unit": "documents",
        "used": used,
        "limit": LIMIT,
        "remaining": max(0, LIMIT - used),
        "ratio": ratio,
        "level": level,
        "version": used,
        "period": "unlimited",
    }


def check_answer(raw: bytes, msg_id: int, used: int) -> None:
    """Raises BenchError unless `raw` is the answer to request `msg_id` after `used` increments."""
    try:
        answer = json.loads(raw)
    except ValueError as error:
        raise BenchError(f"answer is not JSON ({error}): {raw[:200]!r}") from None
    want = {"jsonrpc": "2.0", "id": msg_id, "result": expected_result(used)}
    if answer != want:
        raise BenchError(f"unexpected answer {raw[:300]!r} (wanted id {msg_id}, used {used})")
    if list(answer) != list(want) or list(answer["result"]) != list(want["result"]):
        raise BenchError(f"answer fields out of order: {raw[:300]!r}")


# ---------------------------------------------------------------------------------------------------------------
# A child process under a watchdog


class Child:
    """One program under test: pipes on stdin/stdout, stderr appended to a log, killed at its deadline.

    `spawned_at` is the perf_counter value taken just before Popen (the watchdog is armed earlier so that
    its thread start is not timed)."""

    def __init__(self, argv: list[str], timeout: float, log_path: Path):
        self.expired = False
        self.proc: subprocess.Popen | None = None
        self._timer = threading.Timer(timeout, self._expire)
        self._timer.daemon = True
        self._timer.start()
        self._log = open(log_path, "ab")
        self.spawned_at = time.perf_counter()
        try:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._log,
                bufsize=0,
                start_new_session=True,  # its own process group, so a kill also reaches anything it started
            )
        except OSError as error:
            self._timer.cancel()
            self._log.close()
            raise BenchError(f"cannot start {argv[0]}: {error}") from None
        self.stdin_fd = self.proc.stdin.fileno()
        self.stdout_fd = self.proc.stdout.fileno()
        self._pending = b""  # bytes read past the last complete line

    def _expire(self) -> None:
        self.expired = True
        self.kill()

    def kill(self) -> None:
        """Kills the child and its process group."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        self.proc.kill()

    def write_all(self, data) -> None:
        view = memoryview(data)
        try:
            while view:
                written = os.write(self.stdin_fd, view)
                view = view[written:]
        except OSError as error:
            raise BenchError(f"cannot write ({error.strerror}): {self._why_eof()}") from None

    def read_some(self, size: int = READ_CHUNK) -> bytes:
        """Reads what is available (blocking); raises at EOF, which a watchdog kill also causes."""
        data = os.read(self.stdout_fd, size)
        if not data:
            raise BenchError(f"no answer: {self._why_eof()}")
        return data

    def read_line(self) -> bytes:
        """Reads one complete newline-framed answer, without its newline."""
        buf = self._pending
        while True:
            end = buf.find(b"\n")
            if end >= 0:
                self._pending = buf[end + 1 :]
                return buf[:end].rstrip(b"\r")
            buf += self.read_some(65536)

    def _why_eof(self) -> str:
        if self.expired:
            return "timed out (child killed)"
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return "child closed stdout but kept running"
        return f"child exited with status {code}"

    def finish(self, timeout: float = 10.0) -> int:
        """Closes stdin and waits for the child to exit. Returns its exit status (killed if it lingers)."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self.proc.wait()
            raise BenchError(f"child did not exit within {timeout:.0f} s after stdin closed") from None

    def close(self) -> None:
        self._timer.cancel()
        self.kill()  # also ends anything left in its process group
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                pipe.close()
            except OSError:
                pass
        self._log.close()

    def __enter__(self) -> "Child":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------------------------
# Measurements


@dataclass
class Program:
    label: str
    argv: list[str]
    log: Path
    values: dict = field(default_factory=dict)  # measurement key -> number
    errors: dict = field(default_factory=dict)  # measurement key -> message
    notes: list = field(default_factory=list)


def check_exit(program: Program, child: Child, what: str) -> None:
    """Notes (once per program) when a child does not exit 0 at EOF; that is a bug, not a timing problem."""
    code = child.finish()
    note = f"exit status {code} at EOF ({what})"
    if code != 0 and note not in program.notes:
        program.notes.append(note)


def pipelined_run(program: Program, payload: bytes, count: int, framing: str, timeout: float, check=None) -> float:
    """Writes `count` pipelined requests and reads all answers. Returns messages per second. `check` validates the
    last answer (default: the documents increment answer after `count` increments)."""
    with Child(program.argv, timeout, program.log) as child:
        started = [0.0]

        def writer() -> None:
            view = memoryview(payload)
            try:
                started[0] = time.perf_counter()
                for offset in range(0, len(view), WRITE_CHUNK):
                    child.write_all(view[offset : offset + WRITE_CHUNK])
                child.proc.stdin.close()
            except BenchError:
                pass  # the child died or was killed; the reader reports why

        thread = threading.Thread(target=writer, name="writer", daemon=True)
        thread.start()
        try:
            finished, last = read_answers(child, count, framing)
        except BaseException:
            child.kill()  # unblocks the writer
            thread.join(timeout=10)
            raise
        thread.join(timeout=10)  # it wrote everything before the last answer came; now it closes stdin
        if check is None:
            check_answer(last, count, count)
        else:
            check(last)
        check_exit(program, child, f"{framing} throughput")
    return count / (finished - started[0])


def read_answers(child: Child, count: int, framing: str) -> tuple[float, bytes]:
    """Reads until `count` complete answers arrived. Returns the time of the last byte and the last answer's body.

    Answers are counted, not parsed: one newline each, or one Content-Length header each. A header split
    across two reads is found by also searching the seam (the last bytes of one read plus the first bytes
    of the next); after the last header, reading goes on until its body is complete."""
    received = 0
    tail = b""  # the last TAIL bytes read: the seam search and the final answer come from here
    pattern = b"\n" if framing == "newline" else None
    while True:
        chunk = child.read_some()
        if pattern is None:  # learn how the header is spelled from the first answer
            head = (tail + chunk).lstrip()
            if len(head) < len(CL_HEADER):
                tail += chunk
                continue
            if head[: len(CL_HEADER)].lower() != CL_HEADER:
                raise BenchError(f"answer is not Content-Length framed: {head[:80]!r}")
            pattern = head[: len(CL_HEADER)]
            chunk, tail = tail + chunk, b""
        overlap = len(pattern) - 1
        received += chunk.count(pattern)
        if overlap:
            received += (tail[len(tail) - overlap :] + chunk[:overlap]).count(pattern)
        tail = chunk[-TAIL:] if len(chunk) >= TAIL else (tail + chunk)[-TAIL:]
        if received < count:
            continue
        if framing == "newline":
            return time.perf_counter(), tail.rstrip(b"\r\n").rsplit(b"\n", 1)[-1]
        body = last_complete_body(tail, pattern)
        if body is not None:
            return time.perf_counter(), body


def last_complete_body(tail: bytes, pattern: bytes) -> bytes | None:
    """The body of the last Content-Length frame in `tail`, or None while its body is incomplete."""
    start = tail.rfind(pattern)
    if start < 0:
        raise BenchError("last Content-Length frame is larger than the harness keeps")
    header_end = tail.find(b"\r\n\r\n", start)
    if header_end < 0:
        return None
    try:
        length = int(tail[start + len(pattern) : tail.find(b"\r\n", start)])
    except ValueError:
        raise BenchError(f"bad Content-Length header: {tail[start : header_end]!r}") from None
    body = tail[header_end + 4 :]
    return body[:length] if len(body) >= length else None


def measure_throughput(programs: list[Program], args) -> None:
    """Best and median messages/s over `args.runs` runs per framing, runs interleaved between programs."""
    for framing in ("newline", "content-length"):
        payload = build_payload(1, args.n, framing)
        rates: dict[str, list[float]] = {p.label: [] for p in programs}
        for run in range(args.runs):
            for program in programs:
                key = f"tp_{framing}"
                if key in program.errors:
                    continue
                try:
                    rate = pipelined_run(program, payload, args.n, framing, args.timeout)
                except BenchError as error:
                    program.errors[key] = str(error)
                    log(f"  {program.label}: {framing} throughput run {run + 1}: ERROR {error}")
                    continue
                rates[program.label].append(rate)
                log(f"  {program.label}: {framing} throughput run {run + 1}: {rate:,.0f} msg/s")
        del payload
        for program in programs:
            got = rates[program.label]
            if got and f"tp_{framing}" not in program.errors:
                program.values[f"tp_{framing}_best"] = max(got)
                program.values[f"tp_{framing}_median"] = statistics.median(got)


@contextlib.contextmanager
def one_cpu(enabled: bool):
    """Pins the calling thread, and so every thread and child it starts meanwhile, to one CPU.

    With one request in flight, each round trip is two wake-ups. When the harness and the child sit on
    different CPUs these are cross-CPU wake-ups whose cost (large on virtual machines) dwarfs the work being
    measured, and where the scheduler places the two processes varies between runs. On one CPU a round trip
    is the two programs' own work plus two context switches."""
    if not enabled:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(before)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def measure_round_trip(program: Program, args) -> None:
    """p50/p99 of one-request-in-flight round trips, newline framing, after a warm-up."""
    total = args.warmup + args.round_trips
    requests = [frame(request_body(i), "newline") for i in range(1, total + 1)]
    samples = []
    try:
        with one_cpu(args.pin), Child(program.argv, args.timeout, program.log) as child:
            clock = time.perf_counter_ns
            gc.disable()
            try:
                for index, request in enumerate(requests):
                    began = clock()
                    child.write_all(request)
                    answer = child.read_line()
                    elapsed = clock() - began
                    if index >= args.warmup:
                        samples.append(elapsed)
            finally:
                gc.enable()
            check_answer(answer, total, total)
            check_exit(program, child, "round trip")
    except BenchError as error:
        program.errors["rt"] = str(error)
        log(f"  {program.label}: round trip: ERROR {error}")
        return
    samples.sort()
    program.values["rt_p50"] = percentile(samples, 50) / 1000
    program.values["rt_p99"] = percentile(samples, 99) / 1000
    log(f"  {program.label}: round trip p50 {program.values['rt_p50']:.1f} µs, p99 {program.values['rt_p99']:.1f} µs")


def measure_first_answer(program: Program, args) -> None:
    """Spawn-to-first-answer latency over `args.spawns` spawns; the first answer is checked field by field."""
    request = frame(request_body(1), "newline")
    samples = []
    try:
        for _ in range(args.spawns):
            with Child(program.argv, args.timeout, program.log) as child:
                child.write_all(request)
                answer = child.read_line()
                samples.append(time.perf_counter() - child.spawned_at)
                check_answer(answer, 1, 1)
                check_exit(program, child, "first answer")
    except BenchError as error:
        program.errors["first"] = str(error)
        log(f"  {program.label}: first answer: ERROR {error}")
        return
    samples.sort()
    program.values["first_median"] = statistics.median(samples) * 1000
    program.values["first_p90"] = percentile(samples, 90) * 1000
    log(
        f"  {program.label}: first answer median {program.values['first_median']:.2f} ms, "
        f"p90 {program.values['first_p90']:.2f} ms"
    )


def first_ping(argv: list[str], args, log_path: Path) -> list[float]:
    """Spawn-to-first-answer samples (seconds) for `ping`, which every configuration answers."""
    request = frame(b'{"jsonrpc":"2.0","id":1,"method":"ping"}', "newline")
    samples = []
    for _ in range(args.spawns):
        with Child(argv, args.timeout, log_path) as child:
            child.write_all(request)
            answer = child.read_line()
            samples.append(time.perf_counter() - child.spawned_at)
            if json.loads(answer).get("result") != {}:
                raise BenchError(f"unexpected answer to ping: {answer[:200]!r}")
    return samples


def tokens_payload(count: int) -> bytes:
    body = (
        '{"jsonrpc":"2.0","id":%d,"method":"usage/increment","params":{"metric":"tokens","input":3,"output":2,'
        '"labels":{"model":"gpt-4o"}}}'
    )
    return b"".join(frame((body % i).encode(), "newline") for i in range(1, count + 1))


def measure_plugin_costs(program: Program, args) -> None:
    """What plugins cost: startup with the four standard plugins against none (`--no-default-plugins`), and
    increments whose metric calls its plugin's measure hook (tokens) against ones that do not (documents)."""
    try:
        without = first_ping(program.argv + ["--no-default-plugins"], args, program.log)
        with_plugins = first_ping(program.argv, args, program.log)
    except BenchError as error:
        program.errors["plugins_start"] = str(error)
        log(f"  {program.label}: plugin startup: ERROR {error}")
    else:
        program.values["start_without"] = statistics.median(without) * 1000
        program.values["start_with"] = statistics.median(with_plugins) * 1000
        program.values["start_cost"] = program.values["start_with"] - program.values["start_without"]
        log(f"  startup without plugins {program.values['start_without']:.2f} ms, "
            f"with the four {program.values['start_with']:.2f} ms")
    count = args.n
    documents, tokens = [], []
    try:
        def tokens_answer(raw: bytes) -> None:
            result = json.loads(raw).get("result") or {}
            if result.get("used") != 5 * count or result.get("byModel", {}).get("gpt-4o", {}).get("priced") is not True:
                raise BenchError(f"unexpected last tokens answer: {raw[:300]!r}")

        documents_payload = build_payload(1, count, "newline")
        hook_payload = tokens_payload(count)
        for _ in range(args.runs):
            documents.append(pipelined_run(program, documents_payload, count, "newline", args.timeout))
            tokens.append(pipelined_run(program, hook_payload, count, "newline", args.timeout, check=tokens_answer))
    except BenchError as error:
        program.errors["plugins_tp"] = str(error)
        log(f"  {program.label}: hook throughput: ERROR {error}")
        return
    program.values["tp_no_hook"] = max(documents)
    program.values["tp_hook"] = max(tokens)
    log(f"  increments without a hook {max(documents):,.0f} msg/s, through the tokens hook {max(tokens):,.0f} msg/s")


def measure_idle_rss(program: Program, args) -> None:
    """VmRSS one second after answering one request, in MB (10^6 bytes)."""
    try:
        with Child(program.argv, args.timeout, program.log) as child:
            child.write_all(frame(request_body(1), "newline"))
            check_answer(child.read_line(), 1, 1)
            time.sleep(1.0)
            status = Path(f"/proc/{child.proc.pid}/status").read_text()
            rss_kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
            check_exit(program, child, "idle memory")
    except (BenchError, OSError, StopIteration) as error:
        program.errors["rss"] = str(error) or type(error).__name__
        log(f"  {program.label}: idle RSS: ERROR {program.errors['rss']}")
        return
    program.values["rss"] = rss_kib * 1024 / 1e6
    log(f"  {program.label}: idle RSS {program.values['rss']:.1f} MB")


def percentile(sorted_values: list, pct: float):
    """Nearest-rank percentile of an already sorted list."""
    rank = max(1, -(-len(sorted_values) * pct // 100))  # ceil(n * pct / 100)
    return sorted_values[int(rank) - 1]


# ---------------------------------------------------------------------------------------------------------------
# Report


@dataclass
class Row:
    key: str
    title: str
    fmt: str  # format spec for values
    target: str = ""  # "ratio>=1.5", "ratio<=1.5", "abs<=10", "abs<15", or "" for none


ROWS = [
    Row("tp_newline_best", "Throughput, newline framing, best (msg/s)", ",.0f", "ratio>=1.5"),
    Row("tp_newline_median", "Throughput, newline framing, median (msg/s)", ",.0f", "ratio>=1.5"),
    Row("tp_content-length_best", "Throughput, Content-Length framing, best (msg/s)", ",.0f", "ratio>=1.5"),
    Row("tp_content-length_median", "Throughput, Content-Length framing, median (msg/s)", ",.0f", "ratio>=1.5"),
    Row("rt_p50", "Round trip p50 (µs)", ".1f", "ratio<=1.5"),
    Row("rt_p99", "Round trip p99 (µs)", ".1f"),
    Row("first_median", "Spawn to first answer, median (ms)", ".2f", "abs<=10"),
    Row("first_p90", "Spawn to first answer, p90 (ms)", ".2f"),
    Row("rss", "Idle resident memory (MB)", ".1f", "abs<15"),
]

# Which error entry invalidates which row.
ERROR_KEY = {
    "tp_newline_best": "tp_newline",
    "tp_newline_median": "tp_newline",
    "tp_content-length_best": "tp_content-length",
    "tp_content-length_median": "tp_content-length",
    "rt_p50": "rt",
    "rt_p99": "rt",
    "first_median": "first",
    "first_p90": "first",
    "rss": "rss",
}

TARGET_TEXT = {"ratio>=1.5": "ratio ≥ 1.5", "ratio<=1.5": "ratio ≤ 1.5", "abs<=10": "≤ 10 ms", "abs<15": "< 15 MB"}


def cell(program: Program | None, row: Row) -> str:
    if program is None:
        return ""
    if ERROR_KEY[row.key] in program.errors:
        return "error"
    value = program.values.get(row.key)
    return "—" if value is None else format(value, row.fmt)


def meets_ratio_target(row: Row, ratio: float) -> bool:
    return ratio >= 1.5 if row.target == "ratio>=1.5" else ratio <= 1.5


def ratio_text(row: Row, ratio: float | None) -> str:
    """The ratio with two decimals, or more when two would round it across its target (1.496 is not 1.50)."""
    if ratio is None:
        return ""
    digits = 2
    if row.target.startswith("ratio"):
        while digits < 6 and meets_ratio_target(row, round(ratio, digits)) != meets_ratio_target(row, ratio):
            digits += 1
    return f"{ratio:.{digits}f}"


def verdict(row: Row, floor: Program | None, usagectx: Program | None, ratio: float | None) -> str:
    if not row.target:
        return ""
    if row.target.startswith("ratio"):
        if ratio is None:
            return "n/a"
        ok = meets_ratio_target(row, ratio)
    else:
        value = usagectx.values.get(row.key) if usagectx else None
        if value is None or ERROR_KEY[row.key] in usagectx.errors:
            return "n/a"
        ok = value <= 10 if row.target == "abs<=10" else value < 15
    return "PASS" if ok else "MISS"


def machine_description() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cpus = len(os.sched_getaffinity(0))
    return f"{cpus} CPUs (nproc), {model}, Linux {platform.release()}, Python {platform.python_version()}"


def report(programs: list[Program], args) -> str:
    by_label = {p.label: p for p in programs}
    floor, usagectx = by_label.get("floor"), by_label.get("usagectx")
    lines = [
        "## usagectx benchmark",
        "",
        f"- Machine: {machine_description()}",
        f"- Date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- Throughput: {args.n:,} pipelined increments per run, {args.runs} run(s) per framing and program",
        f"- Round trip: {args.round_trips:,} timed round trips after {args.warmup:,} warm-up, newline framing, "
        + ("harness and child pinned to one CPU" if args.pin else "not pinned"),
        f"- First answer: {args.spawns} spawns; idle memory: VmRSS 1 s after one answer",
    ]
    for program in programs:
        lines.append(f"- {program.label}: `{' '.join(program.argv)}`")
    lines += [
        "",
        "| Measurement | floor | usagectx | usagectx/floor | Target | Result |",
        "|---|--:|--:|--:|---|---|",
    ]
    for row in ROWS:
        ratio = None
        if floor and usagectx and row.key in floor.values and row.key in usagectx.values:
            if ERROR_KEY[row.key] not in floor.errors and ERROR_KEY[row.key] not in usagectx.errors:
                ratio = usagectx.values[row.key] / floor.values[row.key]
        lines.append(
            f"| {row.title} | {cell(floor, row)} | {cell(usagectx, row)} | "
            f"{ratio_text(row, ratio)} | {TARGET_TEXT.get(row.target, '')} | "
            f"{verdict(row, floor, usagectx, ratio)} |"
        )
    if usagectx and any(key in usagectx.values for key in ("start_cost", "tp_hook")):
        v = usagectx.values
        lines += [
            "",
            "Plugins (usagectx only, same run):",
            "",
            "| Measurement | without | with | difference or ratio | Target | Result |",
            "|---|--:|--:|--:|---|---|",
        ]
        if "start_cost" in v:
            ok = v["start_cost"] <= 5
            lines.append(
                f"| First answer to ping: `--no-default-plugins` / the four standard plugins (ms) | "
                f"{v['start_without']:.2f} | {v['start_with']:.2f} | +{v['start_cost']:.2f} ms | ≤ 5 ms | "
                f"{'PASS' if ok else 'MISS'} |")
        if "tp_hook" in v:
            ratio = v["tp_hook"] / v["tp_no_hook"]
            # No target: tokens does more per increment than crossing the ABI (labels, pricing, a breakdown, a
            # larger answer); the row shows what an increment with a measure hook costs in all.
            lines.append(
                f"| Increments: documents (no hook) / tokens (measure hook through the C ABI), best (msg/s) | "
                f"{v['tp_no_hook']:,.0f} | {v['tp_hook']:,.0f} | {ratio:.2f} | | |")
    problems = [
        f"- {p.label}, {key}: {message}" for p in programs for key, message in p.errors.items()
    ] + [f"- {p.label}: {note}" for p in programs for note in p.notes]
    if problems:
        lines += ["", "Problems:", ""] + problems
    return "\n".join(lines) + "\n"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--floor", default="bench/out/floor", help="path of the C floor binary")
    parser.add_argument("--usagectx", default=".build/release/usagectx", help="path of the usagectx binary")
    parser.add_argument("--only", choices=("floor", "usagectx"), help="measure one program only")
    parser.add_argument("--quick", action="store_true", help="reduced run for a smoke check")
    parser.add_argument("--n", type=int, help="requests per throughput run (default 1,000,000; 100,000 with --quick)")
    parser.add_argument("--runs", type=int, default=3, help="throughput runs per framing (default 3)")
    parser.add_argument("--round-trips", type=int, help="timed round trips (default 20,000; 2,000 with --quick)")
    parser.add_argument("--warmup", type=int, help="warm-up round trips (default 1,000; 200 with --quick)")
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the round-trip test with harness and child on one CPU (default: on)",
    )
    parser.add_argument("--spawns", type=int, help="spawns for first answer (default 30; 10 with --quick)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds before a child is killed")
    parser.add_argument("--logs", default="bench/out", help="folder for the children's stderr logs")
    args = parser.parse_args()
    quick = args.quick
    args.n = args.n if args.n is not None else (100_000 if quick else 1_000_000)
    args.round_trips = args.round_trips if args.round_trips is not None else (2_000 if quick else 20_000)
    args.warmup = args.warmup if args.warmup is not None else (200 if quick else 1_000)
    args.spawns = args.spawns if args.spawns is not None else (10 if quick else 30)
    if min(args.n, args.runs, args.round_trips, args.spawns) < 1 or args.warmup < 0:
        parser.error("counts must be positive")
    return args


def main() -> int:
    args = parse_args()
    logs = Path(args.logs)
    logs.mkdir(parents=True, exist_ok=True)
    programs = [
        Program(label, [path], logs / f"{label}.stderr.log")
        for label, path in (("floor", args.floor), ("usagectx", args.usagectx))
        if args.only in (None, label)
    ]
    for program in programs:
        program.log.write_bytes(b"")  # one fresh log per run

    # Cheap, startup-sensitive measurements first, while the harness process is still small.
    log("spawn to first answer")
    for program in programs:
        measure_first_answer(program, args)
    log("idle resident memory")
    for program in programs:
        measure_idle_rss(program, args)
    log("round trip")
    for program in programs:
        measure_round_trip(program, args)
    log("pipelined throughput")
    measure_throughput(programs, args)
    for program in programs:
        if program.label == "usagectx":
            log("plugin costs")
            measure_plugin_costs(program, args)

    sys.stdout.write(report(programs, args))
    return 1 if any(p.errors for p in programs) else 0


if __name__ == "__main__":
    sys.exit(main())
