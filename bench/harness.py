#!/usr/bin/env python3
"""Load generator and measurements for the usagectx benchmark.

Runs the same four measurements against the C floor and against usagectx, side by side:

1. pipelined throughput (newline framing and Content-Length framing),
2. ping-pong round trip with one request in flight,
3. time from spawn to the first answer,
4. idle resident memory after one request,

then prints a Markdown table with the ratio usagectx/floor and PASS/MISS against the targets. Then, for usagectx
only: what plugins cost; the refresh overhead (throughput of a baseline build from before the refresh scheduler and
the reconciliation path, `--baseline`, against this build with the default refresh settings and with settings that
make reads run often, pipelined and with a bounded window of requests in flight); a trigger storm (fetches an
exec plugin gets during 1,000 focus changes and 100 concurrent refreshes); and durability (pipelined throughput and
round trips with the durable ledger, answers after the commit or before it, against the floor, `--no-state` and bare
SQLite commits (`--sqlite-floor`, bench/sqlite_floor.c); first answers and idle memory on a fresh ledger and on a
large one that `--fill` (the bench-ledger-fill target) writes through the ledger's own code; two processes enforcing a
limit on one ledger against one alone; and the delay until a change made by one process reaches another process's
subscriber).
Progress goes to stderr, the tables to stdout. Python 3.11 standard library only.

usagectx keeps a durable ledger by default. Every usagectx session the harness starts names its state: `--no-state`
(the ledger in memory) for every measurement but the durability ones, which get a new, empty state directory per
session (`--state`, under `--state-root`). The children's XDG_STATE_HOME points into the harness's temporary
folder, so a session that named neither cannot touch the home directory, and the report says it happened.

Every child runs under a watchdog that kills it at its deadline, so a stuck or crashed program turns
into an error cell in the table, never a hang.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import fcntl
import gc
import json
import os
import platform
import random
import selectors
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

METRIC = "documents"
AGGRESSIVE_REFRESH = {"refresh": {"mutationDebounceMs": 10, "intervalMs": 100}}
LIMIT = 100
WRITE_CHUNK = 1 << 20  # bytes per write to the child's stdin in the throughput test
READ_CHUNK = 1 << 20  # bytes asked of each read from the child's stdout
CL_HEADER = b"content-length:"
TAIL = 4096  # bytes kept from the end of the answer stream in the throughput test
# In an argv, stands for a new, empty state directory per session (see `session_argv`).
FRESH_STATE = "<fresh state directory>"


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


SYNC_MEMBERS = ["state", "lastSyncedAt", "nextRefreshAt", "attempt", "error", "unconfirmed"]
SYNC_STATES = ("idle", "loading", "error")


def check_sync(sync, raw: bytes) -> None:
    """Raises BenchError unless `sync` has the shape of a MetricState's `sync` member. Its timestamps change from run
    to run, so only their type is checked."""

    def fail(why: str) -> None:
        raise BenchError(f"bad sync member ({why}): {raw[:400]!r}")

    if not isinstance(sync, dict) or list(sync) != SYNC_MEMBERS:
        fail(f"members must be {', '.join(SYNC_MEMBERS)} in that order")
    if sync["state"] not in SYNC_STATES:
        fail("state")
    for name in ("lastSyncedAt", "nextRefreshAt", "error"):
        if sync[name] is not None and not isinstance(sync[name], str):
            fail(name)
    for name in ("attempt", "unconfirmed"):
        if type(sync[name]) is not int or sync[name] < 0:
            fail(name)


def check_answer(raw: bytes, msg_id: int, used: int) -> dict:
    """Raises BenchError unless `raw` is the answer to request `msg_id` after `used` increments. A `sync` member
    after the others (servers with the refresh scheduler) is checked for its shape; servers from before it, and the
    floor, answer without one. Returns the parsed answer."""
    try:
        answer = json.loads(raw)
    except ValueError as error:
        raise BenchError(f"answer is not JSON ({error}): {raw[:200]!r}") from None
    want = {"jsonrpc": "2.0", "id": msg_id, "result": expected_result(used)}
    result = answer.get("result") if isinstance(answer, dict) else None
    has_sync = isinstance(result, dict) and "sync" in result
    if has_sync:
        if list(result)[-1] != "sync":
            raise BenchError(f"sync is not the last member of the result: {raw[:300]!r}")
        sync = result.pop("sync")
        check_sync(sync, raw)
    if answer != want:
        raise BenchError(f"unexpected answer {raw[:300]!r} (wanted id {msg_id}, used {used})")
    if list(answer) != list(want) or list(answer["result"]) != list(want["result"]):
        raise BenchError(f"answer fields out of order: {raw[:300]!r}")
    if has_sync:
        result["sync"] = sync
    return answer


def sync_age_ms(answer: dict) -> float | None:
    """How long ago (ms, by the wall clock) the answer's metric was last read from its authority, if it says."""
    stamp = (answer.get("result") or {}).get("sync", {}).get("lastSyncedAt")
    if not stamp:
        return None
    try:
        synced = datetime.datetime.fromisoformat(stamp)
    except ValueError:
        raise BenchError(f"lastSyncedAt is not an ISO 8601 timestamp: {stamp!r}") from None
    return (time.time() - synced.timestamp()) * 1000


# ---------------------------------------------------------------------------------------------------------------
# A child process under a watchdog


class Child:
    """One program under test: pipes on stdin/stdout, stderr appended to a log, killed at its deadline.

    `spawned_at` is the perf_counter value taken just before Popen (the watchdog is armed earlier so that
    its thread start is not timed)."""

    def __init__(self, argv: list[str], timeout: float, log_path: Path, env: dict | None = None):
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
                env=env,
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
    env: dict | None = None  # the child's environment (None: the harness's own)
    sync_ages: list = field(default_factory=list)  # ms between the last authority read and the last answer, per run
    window_sync_ages: list = field(default_factory=list)  # the same for the windowed runs
    large: LargeLedger | None = None  # the large ledger, once filled (durable program only)


def check_exit(program: Program, child: Child, what: str) -> None:
    """Notes (once per program) when a child does not exit 0 at EOF; that is a bug, not a timing problem."""
    code = child.finish()
    note = f"exit status {code} at EOF ({what})"
    if code != 0 and note not in program.notes:
        program.notes.append(note)


_state_root: Path | None = None  # where the fresh state directories go; made by `make_state_root`


def make_state_root(parent: str | None) -> Path:
    """A new, empty directory under `parent` (default: the system's temporary directory) for this run's state
    directories. Also points XDG_STATE_HOME, for every child, at a folder in it that is never created by the
    harness: a usagectx started without `--state` or `--no-state` would make `usagectx` there, not in the home
    directory, and `default_state_used` notices it."""
    global _state_root
    _state_root = Path(tempfile.mkdtemp(prefix="usagectx-bench-", dir=parent))
    os.environ["XDG_STATE_HOME"] = str(_state_root / "default-state")
    return _state_root


def default_state_used() -> bool:
    """Whether some child used the default state directory (it should have had --state or --no-state)."""
    return _state_root is not None and (_state_root / "default-state").exists()


def remove_state_root() -> None:
    if _state_root is not None:
        shutil.rmtree(_state_root, ignore_errors=True)


def fresh_state_directory() -> Path:
    if _state_root is None:
        make_state_root(None)
    return Path(tempfile.mkdtemp(prefix="state-", dir=_state_root))


@contextlib.contextmanager
def session_argv(program: Program):
    """The program's argv for one session: FRESH_STATE, if present, becomes a new, empty state directory, removed
    when the session ends (after the child exited)."""
    with fresh_argv(program.argv) as argv:
        yield argv


@contextlib.contextmanager
def fresh_argv(argv: list[str]):
    """`argv` with FRESH_STATE, if present, replaced by a new, empty state directory, removed afterwards."""
    if FRESH_STATE not in argv:
        yield argv
        return
    directory = fresh_state_directory()
    try:
        yield [str(directory) if arg == FRESH_STATE else arg for arg in argv]
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def pipelined_run(program: Program, payload: bytes, count: int, framing: str, timeout: float, check=None) -> float:
    """Writes `count` pipelined requests and reads all answers. Returns messages per second. `check` validates the
    last answer (default: the documents increment answer after `count` increments)."""
    with session_argv(program) as argv, Child(argv, timeout, program.log, program.env) as child:
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
                def check(raw: bytes, program=program) -> None:
                    age = sync_age_ms(check_answer(raw, args.n, args.n))
                    if age is not None:
                        program.sync_ages.append(age)

                try:
                    rate = pipelined_run(program, payload, args.n, framing, args.timeout, check)
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


def windowed_run(program: Program, chunks: list[bytes], count: int, timeout: float, check) -> float:
    """Newline framing with a bounded number of requests in flight, as a client that waits for answers would send
    them: the requests go in chunks of `window / 2`, and a chunk is written only once the answers to all but one
    of the chunks before it arrived. The server's input runs dry whenever the window is full, so its loop gets to
    run its timers and posted jobs (refresh reads and their settlement) between bursts. Returns messages per
    second; `check` validates the last answer."""
    with session_argv(program) as argv, Child(argv, timeout, program.log, program.env) as child:
        # Room for every answer in flight, so that a blocking write of a chunk never waits on a full stdout.
        fcntl.fcntl(child.stdout_fd, fcntl.F_SETPIPE_SZ, 1 << 20)
        received, tail, written = 0, b"", 0
        started = time.perf_counter()
        for chunk_index, chunk in enumerate(chunks):
            # Before chunk i, the answers to chunks 0 .. i-2 must be in: at most two chunks in flight.
            while chunk_index >= 2 and received < written - len_of(chunks, chunk_index - 1):
                data = child.read_some()
                received += data.count(b"\n")
                tail = (tail + data)[-TAIL:]
            child.write_all(chunk)
            written += len_of(chunks, chunk_index)
        while received < count:
            data = child.read_some()
            received += data.count(b"\n")
            tail = (tail + data)[-TAIL:]
        finished = time.perf_counter()
        if received != count:
            raise BenchError(f"{received} answers to {count} requests")
        check(tail.rstrip(b"\r\n").rsplit(b"\n", 1)[-1])
        check_exit(program, child, "windowed throughput")
    return count / (finished - started)


def window_chunks(count: int, window: int) -> list[bytes]:
    """The requests 1 .. count, newline framed, in chunks of window / 2 (the last may be shorter)."""
    size = max(1, window // 2)
    return [build_payload(first, min(size, count - first + 1), "newline") for first in range(1, count + 1, size)]


def len_of(chunks: list[bytes], index: int) -> int:
    """How many requests chunk `index` holds (newline framing: one newline each)."""
    return chunks[index].count(b"\n")


def measure_windowed(programs: list[Program], args) -> None:
    """Best and median messages/s of `windowed_run` over `args.runs` runs, runs interleaved between programs."""
    chunks = window_chunks(args.n, args.window)
    rates: dict[str, list[float]] = {p.label: [] for p in programs}
    for run in range(args.runs):
        for program in programs:
            if "tp_window" in program.errors:
                continue

            def check(raw: bytes, program=program) -> None:
                age = sync_age_ms(check_answer(raw, args.n, args.n))
                if age is not None:
                    program.window_sync_ages.append(age)

            try:
                rate = windowed_run(program, chunks, args.n, args.timeout, check)
            except (BenchError, OSError) as error:
                program.errors["tp_window"] = str(error)
                log(f"  {program.label}: windowed throughput run {run + 1}: ERROR {error}")
                continue
            rates[program.label].append(rate)
            log(f"  {program.label}: windowed throughput run {run + 1}: {rate:,.0f} msg/s")
    for program in programs:
        got = rates[program.label]
        if got and "tp_window" not in program.errors:
            program.values["tp_window_best"] = max(got)
            program.values["tp_window_median"] = statistics.median(got)


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


def measure_round_trip(program: Program, args, key: str = "rt", warmup: int | None = None,
                       timed: int | None = None) -> None:
    """p50/p99 of one-request-in-flight round trips, newline framing, after a warm-up; stored as `<key>_p50` and
    `<key>_p99` (µs). `warmup` and `timed` default to `args.warmup` and `args.round_trips`."""
    warmup = args.warmup if warmup is None else warmup
    timed = args.round_trips if timed is None else timed
    total = warmup + timed
    requests = [frame(request_body(i), "newline") for i in range(1, total + 1)]
    samples = []
    try:
        with one_cpu(args.pin), session_argv(program) as argv, Child(argv, args.timeout, program.log) as child:
            clock = time.perf_counter_ns
            gc.disable()
            try:
                for index, request in enumerate(requests):
                    began = clock()
                    child.write_all(request)
                    answer = child.read_line()
                    elapsed = clock() - began
                    if index >= warmup:
                        samples.append(elapsed)
            finally:
                gc.enable()
            check_answer(answer, total, total)
            check_exit(program, child, "round trip")
    except BenchError as error:
        program.errors[key] = str(error)
        log(f"  {program.label}: round trip: ERROR {error}")
        return
    samples.sort()
    program.values[f"{key}_p50"] = percentile(samples, 50) / 1000
    program.values[f"{key}_p99"] = percentile(samples, 99) / 1000
    log(f"  {program.label}: round trip p50 {program.values[f'{key}_p50']:.1f} µs, "
        f"p99 {program.values[f'{key}_p99']:.1f} µs")


def named(key: str, default: str) -> str:
    """` (key)` for progress lines, unless `key` is the measurement's default one."""
    return "" if key == default else f" ({key})"


def measure_first_answer(program: Program, args, key: str = "first", argv: list[str] | None = None,
                         check=None) -> None:
    """Spawn-to-first-answer latency over `args.spawns` spawns of `argv` (default: the program's); the first answer
    is checked field by field, by `check(raw, spawn)` when given (spawn counts from 0). Stored as `<key>_median` and
    `<key>_p90` (ms)."""
    request = frame(request_body(1), "newline")
    template = program.argv if argv is None else argv
    samples = []
    try:
        for spawn in range(args.spawns):
            with fresh_argv(template) as session, Child(session, args.timeout, program.log) as child:
                child.write_all(request)
                answer = child.read_line()
                samples.append(time.perf_counter() - child.spawned_at)
                if check is None:
                    check_answer(answer, 1, 1)
                else:
                    check(answer, spawn)
                check_exit(program, child, "first answer")
    except BenchError as error:
        program.errors[key] = str(error)
        log(f"  {program.label}: first answer{named(key, 'first')}: ERROR {error}")
        return
    samples.sort()
    program.values[f"{key}_median"] = statistics.median(samples) * 1000
    program.values[f"{key}_p90"] = percentile(samples, 90) * 1000
    log(
        f"  {program.label}: first answer{named(key, 'first')} median {program.values[f'{key}_median']:.2f} ms, "
        f"p90 {program.values[f'{key}_p90']:.2f} ms"
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


def measure_idle_rss(program: Program, args, key: str = "rss", argv: list[str] | None = None, check=None) -> None:
    """VmRSS one second after answering one request, in MB (10^6 bytes), of a session of `argv` (default: the
    program's); the answer is checked by `check(raw, 0)` when given. Stored as `key`."""
    try:
        with fresh_argv(program.argv if argv is None else argv) as session, \
                Child(session, args.timeout, program.log) as child:
            child.write_all(frame(request_body(1), "newline"))
            answer = child.read_line()
            if check is None:
                check_answer(answer, 1, 1)
            else:
                check(answer, 0)
            time.sleep(1.0)
            status = Path(f"/proc/{child.proc.pid}/status").read_text()
            rss_kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
            check_exit(program, child, "idle memory")
    except (BenchError, OSError, StopIteration) as error:
        program.errors[key] = str(error) or type(error).__name__
        log(f"  {program.label}: idle RSS{named(key, 'rss')}: ERROR {program.errors[key]}")
        return
    program.values[key] = rss_kib * 1024 / 1e6
    log(f"  {program.label}: idle RSS{named(key, 'rss')} {program.values[key]:.1f} MB")


PLUGIN_DIR = Path(__file__).resolve().parent / "plugin"  # the benchmark's exec plugin (benchsource)
STORM_METRICS = {"seats": 7, "projects": 3}  # its metrics and the values it answers
STORM_FOCUS = 1000  # focus changes per storm
STORM_REFRESHES = 100  # usage/refresh requests per storm
STORM_HIDDEN = 2.5  # seconds hidden before the storm: past minimumUnfocusedMs (1 s) and dedupeWindowMs (2 s)
STORM_SETTLE = 1.5  # seconds after the last answer in which later fetches are counted separately


def notification(method: str, params: dict) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "method": method, "params": params}, separators=(",", ":")).encode() + b"\n"


def storm_payload() -> bytes:
    """The storm after the first focus change (hidden): the other 999 focus changes as notifications, true and
    false alternating (so it ends focused), with the 100 forced usage/refresh requests spread evenly among them."""
    lines = []
    every = (STORM_FOCUS - 1) // STORM_REFRESHES
    refresh_id = 0
    for index in range(STORM_FOCUS - 1):
        lines.append(notification("client/focus", {"focused": index % 2 == 0}))
        if index % every == every - 1 and refresh_id < STORM_REFRESHES:
            refresh_id += 1
            lines.append(
                b'{"jsonrpc":"2.0","id":%d,"method":"usage/refresh","params":{"force":true}}\n' % refresh_id)
    assert refresh_id == STORM_REFRESHES
    return b"".join(lines)


def count_fetches(path: Path) -> dict[str, int]:
    counts = dict.fromkeys(STORM_METRICS, 0)
    with contextlib.suppress(FileNotFoundError):
        for line in path.read_text().splitlines():
            counts[line] = counts.get(line, 0) + 1
    return counts


def check_refresh_answer(answer: dict) -> None:
    metrics = (answer.get("result") or {}).get("metrics")
    if not isinstance(metrics, dict) or set(metrics) != set(STORM_METRICS):
        raise BenchError(f"usage/refresh answer without the plugin's metrics: {json.dumps(answer)[:300]}")
    for name, value in STORM_METRICS.items():
        state = metrics[name]
        if state.get("used") != value or state.get("error") is not None:
            raise BenchError(f"usage/refresh answer: {name} is not the plugin's value: {json.dumps(state)[:300]}")
        check_sync(state.get("sync"), json.dumps(state).encode())


def one_storm(usagectx: str, args, log_path: Path, fetches: Path) -> tuple[dict, dict, float]:
    """One session with the benchmark's exec plugin as the only plugin. Returns the fetches per metric made during
    the storm (counted once all 100 refreshes are answered), those made in the STORM_SETTLE seconds after it, and
    the storm's duration (first byte written to last answer read, ms)."""
    fetches.write_bytes(b"")
    env = {k: v for k, v in os.environ.items() if k != "USAGECTX_PLUGIN_PATH"}
    env["USAGECTX_BENCH_FETCHES"] = str(fetches.resolve())
    argv = [usagectx, "--no-state", "--no-default-plugins", "--plugins", str(PLUGIN_DIR)]
    storm = storm_payload()
    with Child(argv, args.timeout, log_path, env) as child:
        # Room for every answer in the pipe, so that the whole storm can be written before any answer is read.
        with contextlib.suppress(OSError):
            fcntl.fcntl(child.stdout_fd, fcntl.F_SETPIPE_SZ, 1 << 20)
        child.write_all(b'{"jsonrpc":"2.0","id":"ready","method":"plugins/list"}\n')
        ready = json.loads(child.read_line())
        plugins = (ready.get("result") or {}).get("plugins") or []
        if [(p.get("name"), p.get("state")) for p in plugins] != [("benchsource", "loaded")]:
            raise BenchError(f"the benchmark plugin did not load: {json.dumps(ready)[:400]}")
        initial = count_fetches(fetches)
        if any(initial[name] < 1 for name in STORM_METRICS):
            raise BenchError(f"no start-up fetch before the session served: {initial}")
        child.write_all(notification("client/focus", {"focused": False}))  # the first focus change
        time.sleep(STORM_HIDDEN)
        before = count_fetches(fetches)
        began = time.perf_counter()
        child.write_all(storm)
        answered = set()
        while len(answered) < STORM_REFRESHES:
            answer = json.loads(child.read_line())
            if "id" not in answer:
                continue  # a notification
            if answer["id"] in answered or not 1 <= answer["id"] <= STORM_REFRESHES:
                raise BenchError(f"unexpected answer during the storm: {json.dumps(answer)[:300]}")
            check_refresh_answer(answer)
            answered.add(answer["id"])
        elapsed = (time.perf_counter() - began) * 1000
        during = count_fetches(fetches)
        time.sleep(STORM_SETTLE)
        after = count_fetches(fetches)
        code = child.finish()
        if code != 0:
            raise BenchError(f"exit status {code} at EOF after the storm")
    storm_fetches = {name: during[name] - before[name] for name in STORM_METRICS}
    later = {name: after[name] - during[name] for name in STORM_METRICS}
    return storm_fetches, later, elapsed


def measure_storm(program: Program, args) -> None:
    """Fetches per metric that a storm of focus changes and concurrent refreshes causes, over `args.storms`
    sessions."""
    fetches = Path(args.logs) / "storm-fetches.log"
    per_metric, later, durations = [], [], []
    try:
        for run in range(args.storms):
            storm, after, elapsed = one_storm(program.argv[0], args, program.log, fetches)
            per_metric += storm.values()
            later += after.values()
            durations.append(elapsed)
            log(f"  storm {run + 1}: fetches during the storm {storm}, in the {STORM_SETTLE:g} s after it {after}, "
                f"{elapsed:.0f} ms to the last answer")
    except (BenchError, ValueError) as error:
        program.errors["storm"] = str(error)
        log(f"  {program.label}: trigger storm: ERROR {error}")
        return
    program.values["storm_min"] = min(per_metric)
    program.values["storm_max"] = max(per_metric)
    program.values["storm_later"] = max(later)
    program.values["storm_ms"] = statistics.median(durations)


WAL_FRAME = 4096 + 24  # one page and its frame header in SQLite's write-ahead log
COMMIT_FRAMES = 3  # frames one increment's commit appends (the change log's page, its index's, the counters')
WAL_WRAP = 1000  # frames after which SQLite checkpoints and writes the log from its start again (the default)


def measure_flush(program: Program, args) -> None:
    """Reference for the durable round trip: p50/p99 (µs) of what the disk charges per commit. Writes
    COMMIT_FRAMES write-ahead-log frames into a file in a fresh state directory and calls fdatasync, as SQLite does
    once per commit with synchronous=FULL; like its log, the file is written from its start again after WAL_WRAP
    frames, so most writes overwrite blocks already allocated. Stored on `program` as flush_p50 / flush_p99."""
    directory = fresh_state_directory()
    samples = []
    try:
        fd = os.open(directory / "flush-probe", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            block = b"\x01" * (WAL_FRAME * COMMIT_FRAMES)
            clock = time.perf_counter_ns
            frames = 0
            for index in range(args.durable_warmup + args.durable_round_trips):
                if frames + COMMIT_FRAMES > WAL_WRAP:
                    frames = 0
                began = clock()
                os.pwrite(fd, block, frames * WAL_FRAME)
                os.fdatasync(fd)
                if index >= args.durable_warmup:
                    samples.append(clock() - began)
                frames += COMMIT_FRAMES
        finally:
            os.close(fd)
    except OSError as error:
        program.errors["flush"] = f"flush probe: {error}"
        log(f"  flush probe: ERROR {error}")
        return
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    samples.sort()
    program.values["flush_p50"] = percentile(samples, 50) / 1000
    program.values["flush_p99"] = percentile(samples, 99) / 1000
    log(f"  write {COMMIT_FRAMES * WAL_FRAME:,} bytes + fdatasync: p50 {program.values['flush_p50']:.1f} µs, "
        f"p99 {program.values['flush_p99']:.1f} µs")


def sqlite_floor_samples(args, ledger_writes: bool, count: int, log_path: Path) -> list[float]:
    """`count` timed one-row commits (µs, in order) of bench/sqlite_floor.c after `args.durable_warmup` untimed ones,
    in a fresh directory under the state root, on the CPU the round trips are pinned to; with `ledger_writes`, each
    commit writes what one increment's commit writes in the ledger (a change row, its index, the running totals)."""
    directory = fresh_state_directory()
    argv = [args.sqlite_floor] + (["--ledger-writes"] if ledger_writes else []) + [
        str(directory), str(count), str(args.durable_warmup)]
    try:
        with one_cpu(args.pin), open(log_path, "ab") as stderr:
            done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=stderr, timeout=args.timeout, check=False)
        if done.returncode != 0:
            raise BenchError(f"{args.sqlite_floor} exited with status {done.returncode} (see {log_path})")
        return [float(sample) for sample in json.loads(done.stdout)["samples_us"]]
    except (OSError, subprocess.TimeoutExpired, ValueError, KeyError, TypeError) as error:
        raise BenchError(f"{args.sqlite_floor}: {error}") from None
    finally:
        shutil.rmtree(directory, ignore_errors=True)


SQLITE_FLOORS = (("sqlf", False), ("sqll", True))  # value keys: the one-row floor, the ledger's writes


def measure_durable_round_trip(program: Program, args) -> None:
    """The `--ack commit` round trip (`drt_*`), bracketed by the physical floor: half of the SQLite floor's commits
    (the one-row floor, `sqlf_*`, and the ledger's writes, `sqll_*`) right before the round trips, half right after,
    so that a change in the disk's speed meanwhile hits both. p50/p99 in µs."""
    first = args.durable_round_trips // 2
    samples: dict[str, list[float]] = {key: [] for key, _ in SQLITE_FLOORS}

    def floors(count: int) -> None:
        for key, ledger_writes in SQLITE_FLOORS:
            if count and key not in program.errors:
                try:
                    samples[key] += sqlite_floor_samples(args, ledger_writes, count, program.log)
                except BenchError as error:
                    program.errors[key] = f"SQLite floor: {error}"
                    log(f"  SQLite floor: ERROR {error}")

    floors(first)
    measure_round_trip(program, args, "drt", args.durable_warmup, args.durable_round_trips)
    floors(args.durable_round_trips - first)
    for key, ledger_writes in SQLITE_FLOORS:
        if key in program.errors:
            continue
        got = sorted(samples[key])
        program.values[f"{key}_p50"] = percentile(got, 50)
        program.values[f"{key}_p99"] = percentile(got, 99)
        what = "usagectx's ledger writes" if ledger_writes else "one row"
        log(f"  SQLite WAL synchronous=FULL commit of {what}: p50 {program.values[f'{key}_p50']:.1f} µs, "
            f"p99 {program.values[f'{key}_p99']:.1f} µs")


# ---------------------------------------------------------------------------------------------------------------
# First answer on a large ledger


LEDGER_FILE = "usage.sqlite3"
LARGE_SEED = 1  # the fill's seed: every run builds the same ledger
FILL_TIMEOUT = 3600.0  # s the fill may take at most


@dataclass
class LargeLedger:
    """The run's large ledger: its state directory and what bench-ledger-fill reported."""
    directory: Path
    changes: int
    commits: int
    totals: dict  # metric -> all-time total written
    fill_seconds: float  # wall time of the fill, as the harness saw it
    open_ms: float  # opening the filled ledger once more (integrity check, running totals), in the fill
    rows_read_at_open: int
    size: int  # bytes of its files after the fill
    labels: list  # the models its token changes count towards


def ledger_size(directory: Path) -> int:
    """Bytes of a ledger's files: the database, and its write-ahead log and shared index while they exist."""
    return sum(path.stat().st_size for path in directory.glob(LEDGER_FILE + "*"))


def build_large_ledger(args, log_path: Path) -> LargeLedger:
    """Fills a ledger with `args.large_ledger` changes over the last 365 days through the ledger's own code
    (bench-ledger-fill: DurableLedger, 1,000 changes per commit), in the state root."""
    directory = _state_root / "large-ledger"
    argv = [args.fill, str(directory), str(args.large_ledger), str(LARGE_SEED)]
    began = time.perf_counter()
    try:
        with open(log_path, "ab") as stderr:
            done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=stderr, timeout=FILL_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise BenchError(f"bench-ledger-fill: {error}") from None
    elapsed = time.perf_counter() - began
    if done.returncode != 0:
        raise BenchError(f"bench-ledger-fill exited with status {done.returncode} (see {log_path})")
    try:
        report = json.loads(done.stdout)
        return LargeLedger(
            directory, int(report["changes"]), int(report["commits"]), dict(report["totals"]), elapsed,
            float(report["openSeconds"]) * 1000, int(report["rowsReadAtOpen"]), ledger_size(directory),
            list(report["labels"]))
    except (ValueError, KeyError, TypeError) as error:
        raise BenchError(f"bench-ledger-fill printed {done.stdout[:300]!r} ({error})") from None


def check_used(raw: bytes, used: int) -> None:
    """Raises BenchError unless `raw` answers request 1 with the documents metric at `used` (a session on a ledger
    that already holds changes: the other fields depend on them)."""
    try:
        answer = json.loads(raw)
        result = answer["result"]
        ok = answer.get("id") == 1 and result["name"] == METRIC and result["used"] == used
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise BenchError(f"unexpected answer {raw[:300]!r} (wanted id 1, {METRIC} used {used})")
    if "sync" in result:
        check_sync(result["sync"], raw)


def measure_ledger_sessions(program: Program, args, logs: Path) -> None:
    """Spawn to first answer and idle memory of `usagectx --state DIR` (the default plugins and ack) on a fresh
    ledger (a new directory per session) and, unless `--large-ledger 0`, on the run's large ledger, built first
    and shared by its sessions (each adds one document, so each answer is one more). Stored on `program`:
    first_fresh_*, rss_fresh, first_large_*, rss_large, and `program.large`."""
    fresh = [args.usagectx, "--state", FRESH_STATE]
    measure_first_answer(program, args, "first_fresh", fresh)
    measure_idle_rss(program, args, "rss_fresh", fresh)
    if not args.large_ledger:
        return
    log(f"filling a ledger with {args.large_ledger:,} changes")
    try:
        large = build_large_ledger(args, logs / "bench-ledger-fill.stderr.log")
    except BenchError as error:
        program.errors["large"] = str(error)
        log(f"  large ledger: ERROR {error}")
        return
    program.large = large
    log(f"  {large.changes:,} changes in {large.commits:,} commits, {large.fill_seconds:.1f} s, "
        f"{large.size / 1e6:.1f} MB; opening it again took {large.open_ms:.0f} ms")
    argv = [args.usagectx, "--state", str(large.directory)]
    used = [int(large.totals.get(METRIC, 0))]

    def check(raw: bytes, _spawn: int) -> None:
        used[0] += 1
        check_used(raw, used[0])

    measure_first_answer(program, args, "first_large", argv, check)
    measure_idle_rss(program, args, "rss_large", argv, check)


# ---------------------------------------------------------------------------------------------------------------
# Cross-process enforce


ENFORCE_LIMIT = 1_000_000_000_000  # the documents limit while enforcing: high enough never to refuse
ERROR_MARK = b'"error":{'  # how a JSON-RPC error answer starts its error member (sync's `error` is null or a string)


def enforce_payload(count: int) -> bytes:
    """`count` enforced increments of documents, ids 1 .. count, newline framed."""
    body = b'{"jsonrpc":"2.0","id":%d,"method":"usage/increment","params":{"metric":"documents","enforce":true}}\n'
    return b"".join(body % i for i in range(1, count + 1))


def read_all_answers(children: list[Child], count: int) -> tuple[list[float], list[bytes], int]:
    """Reads every child's answers in this thread until each sent `count`. Returns when each child's last answer
    arrived, each one's last answer, and how many answers were errors."""
    selector = selectors.DefaultSelector()
    streams = {child.stdout_fd: [child, 0, b""] for child in children}  # child, answers, last bytes
    for fd in streams:
        selector.register(fd, selectors.EVENT_READ)
    finished: dict[int, float] = {}
    errors = 0
    while len(finished) < len(children):
        for key, _ in selector.select():
            child, received, tail = streams[key.fd]
            data = child.read_some()
            seam = tail[-(len(ERROR_MARK) - 1):] + data[: len(ERROR_MARK) - 1]
            errors += data.count(ERROR_MARK) + seam.count(ERROR_MARK)
            received += data.count(b"\n")
            streams[key.fd][1:] = [received, (tail + data)[-TAIL:]]
            if received >= count:
                finished[key.fd] = time.perf_counter()
                selector.unregister(key.fd)
    selector.close()
    lasts = [streams[c.stdout_fd][2].rstrip(b"\r\n").rsplit(b"\n", 1)[-1] for c in children]
    return [finished[c.stdout_fd] for c in children], lasts, errors


def concurrent_pipelined(program: Program, argv: list[str], processes: int, payload: bytes,
                         count: int, timeout: float) -> tuple[float, list[bytes]]:
    """Starts `processes` sessions of `argv`, then writes `payload` (`count` requests) to each from its own thread,
    all released at once, closing each stdin after its payload. Returns messages/s over all of them (answers / time
    from the first write to the last answer) and each session's last answer."""
    with contextlib.ExitStack() as stack:
        children = [stack.enter_context(Child(argv, timeout, program.log)) for _ in range(processes)]
        go = threading.Event()
        starts = [0.0] * processes

        def writer(index: int, child: Child) -> None:
            go.wait()
            starts[index] = time.perf_counter()
            view = memoryview(payload)
            try:
                for offset in range(0, len(view), WRITE_CHUNK):
                    child.write_all(view[offset : offset + WRITE_CHUNK])
                child.proc.stdin.close()
            except BenchError:
                pass  # the child died or was killed; the reader reports why

        threads = [threading.Thread(target=writer, args=(i, c), daemon=True) for i, c in enumerate(children)]
        for thread in threads:
            thread.start()
        go.set()
        try:
            finished, lasts, errors = read_all_answers(children, count)
        except BaseException:
            for child in children:
                child.kill()
            raise
        finally:
            for thread in threads:
                thread.join(timeout=10)
        if errors:
            raise BenchError(f"{errors:,} of {processes * count:,} answers were errors: {lasts[0][:300]!r}")
        for child in children:
            check_exit(program, child, "cross-process enforce")
    return processes * count / (max(finished) - min(starts)), lasts


def stored_documents(args, directory: Path, config: Path) -> int:
    """The documents total stored in the ledger of `directory`, read by a third process (`usagectx call`)."""
    argv = [args.usagectx, "call", "usage/get", json.dumps({"metrics": [METRIC]}), "--state", str(directory),
            "--config", str(config)]
    try:
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=args.timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise BenchError(f"usagectx call usage/get: {error}") from None
    try:
        return int(json.loads(done.stdout)["metrics"][METRIC]["used"])
    except (ValueError, KeyError, TypeError):
        raise BenchError(f"usagectx call usage/get answered {done.stdout[:200]!r} (exit status {done.returncode}: "
                         f"{done.stderr[:200]!r})") from None


def last_used(raw: bytes, count: int) -> int:
    """The `used` of an answer to request `count` (the last of a run)."""
    try:
        answer = json.loads(raw)
        if answer.get("id") == count:
            return int(answer["result"]["used"])
    except (ValueError, KeyError, TypeError):
        pass
    raise BenchError(f"unexpected last answer {raw[:300]!r} (wanted the answer to request {count})")


def cross_process_run(program: Program, args, config: Path, processes: int, payload: bytes) -> float:
    """One run of `processes` sessions on one fresh state directory, each given the enforced increments; checks
    that the last answer and a third process both see every increment stored. Returns messages/s over all."""
    count = args.cross_process
    directory = fresh_state_directory()
    try:
        argv = [args.usagectx, "--state", str(directory), "--config", str(config)]
        rate, lasts = concurrent_pipelined(program, argv, processes, payload, count, args.timeout)
        sent = processes * count
        seen = max(last_used(raw, count) for raw in lasts)
        stored = stored_documents(args, directory, config)
        if seen != sent or stored != sent:
            raise BenchError(f"{sent:,} increments sent, the last answer says {seen:,}, the ledger holds {stored:,}")
        program.values["xp_stored"] = stored
        return rate
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def measure_cross_process(program: Program, args, logs: Path) -> None:
    """Aggregate throughput of two sessions enforcing a limit on one state directory, against one session alone;
    `args.runs` runs each, alternating. Stored as xp_one_best/median, xp_two_best/median (msg/s)."""
    config = logs / "enforce-limit.json"
    config.write_text(json.dumps({"metrics": {METRIC: {"limits": {"free": ENFORCE_LIMIT}}}}) + "\n")
    payload = enforce_payload(args.cross_process)
    rates: dict[int, list[float]] = {1: [], 2: []}
    try:
        for run in range(args.runs):
            for processes in (1, 2):
                rate = cross_process_run(program, args, config, processes, payload)
                rates[processes].append(rate)
                log(f"  {processes} process{'es' if processes > 1 else ''}, run {run + 1}: {rate:,.0f} msg/s")
    except BenchError as error:
        program.errors["xp"] = str(error)
        log(f"  cross-process enforce: ERROR {error}")
        return
    for processes, name in ((1, "one"), (2, "two")):
        program.values[f"xp_{name}_best"] = max(rates[processes])
        program.values[f"xp_{name}_median"] = statistics.median(rates[processes])


CONVERGENCE_METRIC = "requests"
CONVERGENCE_JITTER = 0.25  # s, at most, added at random to each gap: the phase against the watcher's 250 ms varies
CONVERGENCE_WAIT = 5.0  # s an increment may take to show at B before the measurement fails


def convergence_increment(msg_id: int) -> bytes:
    return b'{"jsonrpc":"2.0","id":%d,"method":"usage/increment","params":{"metric":"%s"}}\n' % (
        msg_id, CONVERGENCE_METRIC.encode())


def measure_convergence(program: Program, args) -> None:
    """How long a change made by one process takes to reach another process's subscriber on the same state
    directory. B (started first, so that it creates the ledger) subscribes to `requests`; then A starts; the harness
    sends A one `usage/increment` at a time and timestamps, as each arrives, A's answer and every `usage/changed`
    of B. The delay is from A's answer to B's first `usage/changed` carrying the value A answered. Gaps between
    increments are `args.convergence_gap` ms plus up to CONVERGENCE_JITTER s at random (fixed seed), so each
    increment is committed and seen on its own and B's 250 ms watcher is met at varied phases. Stored as conv_p50,
    conv_p99, conv_max, conv_min (ms)."""
    rng = random.Random(5)
    samples = []
    try:
        with session_argv(program) as argv, Child(argv, args.timeout, program.log) as watcher:
            watcher.write_all(
                b'{"jsonrpc":"2.0","id":"sub","method":"usage/subscribe","params":{"metrics":["%s"]}}\n'
                % CONVERGENCE_METRIC.encode())
            while True:
                answer = json.loads(watcher.read_line())
                if answer.get("id") == "sub":
                    break
            try:
                used = answer["result"]["snapshot"]["metrics"][CONVERGENCE_METRIC]["used"]
            except (KeyError, TypeError):
                raise BenchError(f"unexpected answer to usage/subscribe: {json.dumps(answer)[:300]}") from None
            with Child(argv, args.timeout, program.log) as writer:
                # Per stream: the child and the bytes read past its last complete line.
                streams = {writer.stdout_fd: [writer, b""], watcher.stdout_fd: [watcher, watcher._pending]}
                selector = selectors.DefaultSelector()
                for fd in streams:
                    selector.register(fd, selectors.EVENT_READ)
                changed_at: dict[int, float] = {}  # value -> when B's first usage/changed carrying it arrived
                for msg_id in range(1, args.convergence + 1):
                    writer.write_all(convergence_increment(msg_id))
                    answered_at, target = None, None
                    deadline = time.perf_counter() + CONVERGENCE_WAIT
                    while answered_at is None or target not in changed_at:
                        left = deadline - time.perf_counter()
                        events = selector.select(timeout=max(0.0, left)) if left > 0 else []
                        if not events:
                            raise BenchError(
                                f"increment {msg_id} ({CONVERGENCE_METRIC} = {target}) did not reach the other "
                                f"process's subscriber within {CONVERGENCE_WAIT:g} s")
                        now = time.perf_counter()
                        for key, _ in events:
                            child, pending = streams[key.fd]
                            *lines, pending = (pending + child.read_some(65536)).split(b"\n")
                            streams[key.fd][1] = pending
                            for line in lines:
                                message = json.loads(line)
                                if child is writer:
                                    if message.get("id") != msg_id or "result" not in message:
                                        raise BenchError(f"unexpected answer from A: {line[:300]!r}")
                                    answered_at, target = now, message["result"]["used"]
                                    if target != used + msg_id:
                                        raise BenchError(f"A answered {target}, wanted {used + msg_id}: {line[:300]!r}")
                                elif message.get("method") == "usage/changed":
                                    state = message["params"]["metrics"].get(CONVERGENCE_METRIC)
                                    if state is not None:
                                        changed_at.setdefault(state["used"], now)
                    samples.append((changed_at[target] - answered_at) * 1000)
                    time.sleep(args.convergence_gap / 1000 + rng.uniform(0, CONVERGENCE_JITTER))
                selector.close()
                check_exit(program, writer, "convergence, process A")
            check_exit(program, watcher, "convergence, process B")
    except (BenchError, ValueError, KeyError, TypeError) as error:
        program.errors["conv"] = str(error) or type(error).__name__
        log(f"  {program.label}: convergence: ERROR {program.errors['conv']}")
        return
    samples.sort()
    program.values["conv_p50"] = percentile(samples, 50)
    program.values["conv_p99"] = percentile(samples, 99)
    program.values["conv_max"] = samples[-1]
    program.values["conv_min"] = samples[0]
    log(f"  convergence over {len(samples)} increments: p50 {program.values['conv_p50']:.0f} ms, "
        f"p99 {program.values['conv_p99']:.0f} ms, max {samples[-1]:.0f} ms, min {samples[0]:.0f} ms")


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


def load_text(load: tuple[float, float, float]) -> str:
    return ", ".join(f"{value:.2f}" for value in load)


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
        f"- Load average (1, 5, 15 min): at the start {load_text(args.load_at_start)}, at the end "
        f"{load_text(os.getloadavg())} (other work on the machine shows here)",
    ]
    for program in programs:
        lines.append(f"- {program.label}: `{' '.join(program.argv)}`")
    if any(FRESH_STATE in p.argv for p in programs):
        lines.append(f"- {FRESH_STATE}: a new, empty directory per session under {state_root_description(args)}")
    lines += [
        "",
        "| Measurement | floor | usagectx (`--no-state`) | usagectx/floor | Target | Result |",
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
            "Plugins (usagectx `--no-state` only, same run):",
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
    baseline, refresh = by_label.get("baseline"), by_label.get("usagectx-refresh")
    if usagectx and baseline:
        lines += refresh_overhead_table(baseline, usagectx, refresh, args)
    if usagectx and ("storm_max" in usagectx.values or "storm" in usagectx.errors):
        lines += storm_table(usagectx, args)
    memory, durable = by_label.get("usagectx-ack-memory"), by_label.get("usagectx-durable")
    if durable:
        lines += durability_tables(floor, usagectx, memory, durable, args)
    problems = [
        f"- {p.label}, {key}: {message}" for p in programs for key, message in p.errors.items()
    ] + [f"- {p.label}: {note}" for p in programs for note in p.notes]
    if problems:
        lines += ["", "Problems:", ""] + problems
    if default_state_used():
        lines += ["", "Problems:", ""] if not problems else []
        lines.append("- a usagectx session ran without --state or --no-state (it used the default state directory, "
                     "which the harness had pointed into its temporary folder)")
    return "\n".join(lines) + "\n"


OVERHEAD_TARGET = 0.90  # throughput with the refresh scheduler and reconciliation / without, at least


def overhead_ratio_text(ratio: float) -> str:
    """Two decimals, or more when two would round the ratio across the target (0.896 is not 0.90)."""
    digits = 2
    while digits < 6 and (round(ratio, digits) >= OVERHEAD_TARGET) != (ratio >= OVERHEAD_TARGET):
        digits += 1
    return f"{ratio:.{digits}f}"


def refresh_overhead_table(baseline: Program, usagectx: Program, refresh: Program | None, args) -> list[str]:
    """Pipelined increments before the refresh scheduler and the reconciliation path (the baseline revision) and
    now, with the default refresh settings and with settings that make reads run during the measurement."""
    variants = [(usagectx, "default refresh settings")]
    if refresh:
        variants.append((refresh, "refresh every 100 ms, mutation debounce 10 ms"))
    lines = [
        "",
        f"Refresh overhead (same run; runs interleaved with the floor's and between the builds): `usage/increment` "
        f"throughput of this build with `--no-state` against `{args.baseline_rev}`, the last revision before the "
        f"refresh scheduler and the reconciliation path (it has no ledger and no such flag); `refresh every 100 ms, "
        f"mutation debounce 10 ms` is this build with `--no-state --config` "
        f"`{json.dumps(AGGRESSIVE_REFRESH, separators=(',', ':'))}`:",
        "",
        f"| Measurement | {args.baseline_rev} | current (`--no-state`) | current/{args.baseline_rev} | Target | Result |",
        "|---|--:|--:|--:|---|---|",
    ]
    modes = [
        ("tp_newline", "pipelined, newline framing"),
        ("tp_content-length", "pipelined, Content-Length framing"),
        ("tp_window", f"at most {args.window:,} in flight, newline framing"),
    ]
    for mode, name in modes:
        if not any(f"{mode}_best" in p.values or mode in p.errors for p in (baseline, usagectx)):
            continue
        for stat in ("best", "median"):
            key = f"{mode}_{stat}"
            for program, setting in variants:
                title = f"Throughput, {name}, {stat}, {setting} (msg/s)"
                before = None if mode in baseline.errors else baseline.values.get(key)
                now = None if mode in program.errors else program.values.get(key)
                ratio = now / before if before and now is not None else None
                result = "n/a" if ratio is None else "PASS" if ratio >= OVERHEAD_TARGET else "MISS"
                lines.append(
                    f"| {title} | {'error' if before is None else format(before, ',.0f')} | "
                    f"{'error' if now is None else format(now, ',.0f')} | "
                    f"{'' if ratio is None else overhead_ratio_text(ratio)} | ≥ {OVERHEAD_TARGET:.2f} | {result} |")
    for attribute, runs in (("sync_ages", "pipelined runs"), ("window_sync_ages", "windowed runs")):
        ages = [(getattr(p, attribute), setting) for p, setting in variants if getattr(p, attribute)]
        if ages:
            described = "; ".join(f"{setting} {min(a):,.0f}–{max(a):,.0f} ms" for a, setting in ages)
            lines += [
                "",
                f"Age of the last authority read (`sync.lastSyncedAt` in the last answer) when the last answer arrived, "
                f"{runs}: {described}.",
            ]
    return lines


DURABLE_VS_NOSTATE = 0.90  # durable (--ack commit) pipelined throughput / --no-state, at least
DURABLE_VS_FLOOR = 1.00  # durable (--ack commit) pipelined throughput / the C floor, at least
SQLITE_FLOOR_TARGET = 1.30  # durable round trip p50 / bare SQLite one-row commit p50, at most
FIRST_ANSWER_TARGET = 10.0  # ms, spawn to first answer with a ledger on disk, fresh or large
LARGE_SIZE_TARGET = 300.0  # MB, the large ledger's files
LEDGER_RSS_TARGET = 15.0  # MB, idle resident memory of a session with a ledger on disk
CROSS_PROCESS_TARGET = 0.50  # two processes' aggregate throughput / one process alone, at least
CONVERGENCE_TARGET = 1000.0  # ms: a change reaches the other processes' subscribers within a second


def filesystem_of(path: Path) -> str:
    """The file system type and source of the mount that holds `path`, from /proc/self/mountinfo."""
    best, found = -1, "unknown file system"
    try:
        target = str(path.resolve())
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            fields = line.split()
            mount = fields[4].replace("\\040", " ")
            after = fields[fields.index("-") + 1 :]
            inside = target == mount or target.startswith(mount.rstrip("/") + "/")
            if inside and len(mount) > best:
                best, found = len(mount), f"{after[0]} on {after[1]}"
    except (OSError, ValueError, IndexError):
        pass
    return found


def state_root_description(args) -> str:
    parent = Path(args.state_root or tempfile.gettempdir())
    return f"`{parent}` ({filesystem_of(parent)})"


def value_cell(program: Program | None, key: str, error_key: str, fmt: str) -> tuple[float | None, str]:
    """A program's value and its cell: empty without the program, `error` when its measurement failed, `—` when
    missing."""
    if program is None:
        return None, ""
    if error_key in program.errors:
        return None, "error"
    got = program.values.get(key)
    return got, "—" if got is None else format(got, fmt)


def judged_ratio(num: float | None, den: float | None, meets) -> tuple[str, str]:
    """The ratio num/den (two decimals, more when two would round it across its target) and PASS/MISS by `meets`;
    empty and `n/a` when a value is missing."""
    if num is None or not den:
        return "", "n/a"
    ratio = num / den
    digits = 2
    while digits < 6 and meets(round(ratio, digits)) != meets(ratio):
        digits += 1
    return f"{ratio:.{digits}f}", "PASS" if meets(ratio) else "MISS"


def durability_tables(floor: Program | None, nostate: Program | None, memory: Program | None, durable: Program,
                      args) -> list[str]:
    """Pipelined throughput and round trips with the durable ledger (--ack commit, the default) against the floor,
    --no-state, --ack memory and bare SQLite; first answers and memory with a ledger on disk, fresh and large; two
    processes enforcing on one ledger; the convergence delay between two processes on one state directory."""
    lines = durable_throughput_table(floor, nostate, memory, durable, args)
    lines += durable_round_trip_table(nostate, memory, durable, args)
    if "first_fresh_median" in durable.values or any(k in durable.errors for k in ("first_fresh", "large")):
        lines += ledger_sessions_table(durable, args)
    if args.cross_process:
        lines += cross_process_table(durable, args)
    if args.convergence:
        lines += convergence_table(durable, args)
    return lines


def durable_throughput_table(floor: Program | None, nostate: Program | None, memory: Program | None,
                             durable: Program, args) -> list[str]:
    columns = [(floor, "floor"), (nostate, "`--no-state`"), (memory, "`--ack memory`"),
               (durable, "`--ack commit` (default)")]
    lines = [
        "",
        f"Durability (same run; the throughput runs interleaved with the others): this build with the durable ledger "
        f"in a fresh state directory per session, answers written after the burst's commit (`--ack commit`, the "
        f"default) or before it (`--ack memory`), against the C floor and this build with no ledger on disk "
        f"(`--no-state`), the columns of the first table. State directories: {state_root_description(args)}.",
        "",
        "| Measurement | " + " | ".join(name for _, name in columns)
        + f" | commit/`--no-state` | Result (≥ {DURABLE_VS_NOSTATE:.2f}) | commit/floor "
        f"| Result (≥ {DURABLE_VS_FLOOR:.2f}) | commit/memory |",
        "|---|--:|--:|--:|--:|--:|---|--:|---|--:|",
    ]
    for mode, name in (("tp_newline", "newline framing"), ("tp_content-length", "Content-Length framing")):
        for stat in ("best", "median"):
            cells = [value_cell(p, f"{mode}_{stat}", mode, ",.0f") for p, _ in columns]
            got = [c[0] for c in cells]
            vs_nostate = judged_ratio(got[3], got[1], lambda r: r >= DURABLE_VS_NOSTATE)
            vs_floor = judged_ratio(got[3], got[0], lambda r: r >= DURABLE_VS_FLOOR)
            vs_memory = judged_ratio(got[3], got[2], lambda r: True)[0]
            lines.append(
                f"| Pipelined increments, {name}, {stat} (msg/s) | " + " | ".join(c[1] for c in cells)
                + f" | {vs_nostate[0]} | {vs_nostate[1]} | {vs_floor[0]} | {vs_floor[1]} | {vs_memory} |")
    return lines


def durable_round_trip_table(nostate: Program | None, memory: Program | None, durable: Program,
                             args) -> list[str]:
    columns = [(nostate, "`--no-state`"), (memory, "`--ack memory`"), (durable, "`--ack commit` (default)")]
    lines = [
        "",
        "| Measurement | " + " | ".join(name for _, name in columns)
        + " | SQLite floor (one row) | SQLite, the ledger's writes | commit/SQLite floor | Target | Result |",
        "|---|--:|--:|--:|--:|--:|--:|---|---|",
    ]
    for stat in ("p50", "p99"):
        cells = [value_cell(p, f"drt_{stat}", "drt", ",.1f") for p, _ in columns]
        floor = value_cell(durable, f"sqlf_{stat}", "sqlf", ",.1f")
        shaped = value_cell(durable, f"sqll_{stat}", "sqll", ",.1f")
        ratio, result = judged_ratio(cells[2][0], floor[0], lambda r: r <= SQLITE_FLOOR_TARGET)
        target = f"≤ {SQLITE_FLOOR_TARGET:.2f}" if stat == "p50" else ""
        lines.append(
            f"| Round trip, one request in flight, {stat} (µs) | " + " | ".join(c[1] for c in cells)
            + f" | {floor[1]} | {shaped[1]} | {ratio} | {target} | {result if target else ''} |")
    pin = "harness and child pinned to one CPU" if args.pin else "not pinned"
    lines += [
        "",
        f"Round trips: {args.durable_round_trips:,} timed after {args.durable_warmup:,} warm-up, newline framing, "
        f"{pin}, one session per column. SQLite floor: `bench/sqlite_floor.c`, bare SQLite in WAL mode with "
        f"`synchronous=FULL` in a fresh database on the same file system, as many commits (`BEGIN IMMEDIATE`, one "
        f"`INSERT`, `COMMIT`, each timed) on the same CPU, half right before the `--ack commit` round trips and half "
        f"right after (each half after {args.durable_warmup:,} warm-up commits). For information, `SQLite, the "
        f"ledger's writes` is the same program writing what one increment's commit writes in the ledger (a row of the "
        f"change log and its index, the day's and the all-time running totals: {COMMIT_FRAMES} pages).",
    ]
    if "flush_p50" in durable.values:
        lines[-1] += (
            f" Also for information, what the disk charges per commit: writing {COMMIT_FRAMES * WAL_FRAME:,} bytes "
            f"(the {COMMIT_FRAMES} write-ahead-log frames of one increment's commit) into a file in the same file "
            f"system, from its start again every {WAL_WRAP:,} frames as SQLite's log, then `fdatasync`, as often: "
            f"p50 {durable.values['flush_p50']:,.1f} µs, p99 {durable.values['flush_p99']:,.1f} µs.")
    elif "flush" in durable.errors:
        lines[-1] += " The fdatasync reference failed (see Problems)."
    return lines


def ledger_sessions_table(durable: Program, args) -> list[str]:
    large = durable.large
    failed = "large" in durable.errors
    size_of = f"{args.large_ledger:,} changes"
    # title, key of the fresh ledger's value, of the large one's, their error keys, format, limit, target text
    rows = [
        ("Spawn to first answer, median (ms)", "first_fresh_median", "first_large_median", "first_fresh",
         "first_large", ".2f", FIRST_ANSWER_TARGET, f"≤ {FIRST_ANSWER_TARGET:.0f} ms"),
        ("Spawn to first answer, p90 (ms)", "first_fresh_p90", "first_large_p90", "first_fresh", "first_large",
         ".2f", None, ""),
        ("Idle resident memory (MB)", "rss_fresh", "rss_large", "rss_fresh", "rss_large", ".1f", LEDGER_RSS_TARGET,
         f"≤ {LEDGER_RSS_TARGET:.0f} MB"),
    ]
    lines = [
        "",
        "First answer and memory with the ledger on disk (`usagectx --state DIR`, the four standard plugins, "
        "answers after the commit): a fresh ledger is a new state directory per session; the large ledger is built "
        "once per run and shared by its sessions (each adds one document). First answer as in the first table "
        f"({args.spawns} spawns, one `usage/increment`); memory: VmRSS 1 s after that answer.",
        "",
        f"| Measurement | fresh ledger | large ledger ({size_of}) | Target | Result (fresh / large) |",
        "|---|--:|--:|---|---|",
    ]
    for title, fresh_key, large_key, fresh_error, large_error, fmt, limit, target in rows:
        fresh = value_cell(durable, fresh_key, fresh_error, fmt)
        big = (None, "error") if failed else value_cell(durable, large_key, large_error, fmt)
        if not args.large_ledger:
            big = (None, "")
        result = ""
        if limit is not None:
            verdicts = ["n/a" if v is None else "PASS" if v <= limit else "MISS" for v, _ in (fresh, big)]
            result = verdicts[0] if not args.large_ledger else " / ".join(verdicts)
        lines.append(f"| {title} | {fresh[1]} | {big[1]} | {target} | {result} |")
    if args.large_ledger:
        size = None if large is None else large.size / 1e6
        verdict = "n/a" if size is None else "PASS" if size <= LARGE_SIZE_TARGET else "MISS"
        lines.append(f"| Ledger files (MB) | | {'error' if size is None else format(size, ',.1f')} "
                     f"| ≤ {LARGE_SIZE_TARGET:.0f} MB | {verdict} |")
    if large is not None:
        lines += [
            "",
            f"Large ledger: {large.changes:,} changes over the last 365 days (documents, requests, and tokens of "
            f"{len(large.labels)} models with their fields and cost; about one in ten with an idempotency key), written "
            f"by `bench-ledger-fill` through `DurableLedger` in {large.commits:,} commits of 1,000 in "
            f"{large.fill_seconds:,.1f} s. Opening it once more in the fill (the integrity check and the running "
            f"totals, as a session's start) took {large.open_ms:,.0f} ms and read {large.rows_read_at_open:,} "
            f"counter rows.",
        ]
    return lines


def cross_process_table(durable: Program, args) -> list[str]:
    lines = [
        "",
        f"Cross-process enforce (newline framing, {args.runs} run(s) each, alternating): {args.cross_process:,} "
        f"pipelined `usage/increment` requests of `{METRIC}` with `\"enforce\": true` per process, `usagectx "
        f"--state DIR --config FILE` (default ack) with the limit {ENFORCE_LIMIT:,} so that none is refused; two "
        f"processes started together on one fresh state directory against one process alone on a fresh one. "
        f"Aggregate: all answers / time from the first write to the last answer of both.",
        "",
        "| Measurement | one process | two processes (aggregate) | two/one | Target | Result |",
        "|---|--:|--:|--:|---|---|",
    ]
    for stat in ("best", "median"):
        one = value_cell(durable, f"xp_one_{stat}", "xp", ",.0f")
        two = value_cell(durable, f"xp_two_{stat}", "xp", ",.0f")
        ratio, result = judged_ratio(two[0], one[0], lambda r: r >= CROSS_PROCESS_TARGET)
        lines.append(f"| Enforced increments, {stat} (msg/s) | {one[1]} | {two[1]} | {ratio} | "
                     f"≥ {CROSS_PROCESS_TARGET:.2f} | {result} |")
    stored = durable.values.get("xp_stored")
    sent = 2 * args.cross_process
    stored_cell = "error" if "xp" in durable.errors or stored is None else f"{stored:,.0f} of {sent:,}"
    verdict = "n/a" if stored_cell == "error" else "PASS" if stored == sent else "MISS"
    lines.append(f"| Stored total after each two-process run (`usagectx call usage/get`, a third process) | "
                 f"| {stored_cell} | | = sent | {verdict} |")
    return lines


def convergence_table(durable: Program, args) -> list[str]:
    failed = "conv" in durable.errors
    v = durable.values

    def ms(key: str) -> str:
        return "error" if failed or key not in v else f"{v[key]:,.0f}"

    result = "n/a" if failed or "conv_max" not in v else "PASS" if v["conv_max"] <= CONVERGENCE_TARGET else "MISS"
    gap = f"{args.convergence_gap:,} ms plus up to {CONVERGENCE_JITTER * 1000:.0f} ms at random"
    return [
        "",
        f"Convergence (two processes, `usagectx --state DIR` each, on one fresh state directory): B subscribes to "
        f"`{CONVERGENCE_METRIC}`, then A starts and gets {args.convergence:,} `usage/increment` requests of "
        f"`{CONVERGENCE_METRIC}`, one at a time, {gap} apart; the delay is from A's answer arriving to B's "
        f"`usage/changed` with the value A answered arriving:",
        "",
        "| Measurement | usagectx | Target | Result |",
        "|---|--:|---|---|",
        f"| Convergence delay, p50 (ms) | {ms('conv_p50')} | | |",
        f"| Convergence delay, p99 (ms) | {ms('conv_p99')} | | |",
        f"| Convergence delay, max (ms) | {ms('conv_max')} | ≤ {CONVERGENCE_TARGET:,.0f} ms | {result} |",
        f"| Convergence delay, min (ms) | {ms('conv_min')} | | |",
    ]


def storm_table(usagectx: Program, args) -> list[str]:
    v = usagectx.values
    failed = "storm" in usagectx.errors
    storms = f"{args.storms} storm{'s' if args.storms != 1 else ''}"
    metrics = len(STORM_METRICS)

    def value(key: str, fmt: str) -> str:
        return "error" if failed or key not in v else format(v[key], fmt)

    if failed:
        result = "n/a"
    else:
        result = "PASS" if 1 <= v["storm_min"] and v["storm_max"] <= 2 else "MISS"
    fetch_cell = "error" if failed else (
        f"{v['storm_min']:.0f}" if v["storm_min"] == v["storm_max"] else f"{v['storm_min']:.0f}–{v['storm_max']:.0f}")
    return [
        "",
        f"Trigger storm (usagectx only, {storms}, each in a new session started with `--no-state --no-default-plugins "
        f"--plugins bench/plugin`: an exec plugin is the authority of {metrics} metrics and counts the `metric/fetch` requests "
        f"it gets; the client is hidden for {STORM_HIDDEN:g} s, then {STORM_FOCUS - 1:,} more `client/focus` "
        f"notifications alternate true/false with {STORM_REFRESHES} `usage/refresh {{force: true}}` requests spread "
        "among them, all written before any answer is read; fetches are counted once all refreshes are answered, "
        "the fetch at start-up is not counted):",
        "",
        "| Measurement | usagectx | Target | Result |",
        "|---|--:|---|---|",
        f"| Fetches per metric during the storm ({STORM_FOCUS:,} focus changes, {STORM_REFRESHES} concurrent "
        f"refreshes; min–max over {metrics} metrics × {storms}) | {fetch_cell} | 1–2 | {result} |",
        f"| Fetches per metric in the {STORM_SETTLE:g} s after the last answer (max) | {value('storm_later', '.0f')} "
        "| | |",
        f"| Storm, first byte written to last refresh answer, median (ms) | {value('storm_ms', ',.0f')} | | |",
    ]


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
    parser.add_argument(
        "--baseline", help="a usagectx binary from before the refresh scheduler, measured for throughput only")
    parser.add_argument("--baseline-rev", default="baseline", help="what to call the baseline in the table")
    parser.add_argument("--no-baseline", action="store_true", help="do not measure the baseline")
    parser.add_argument(
        "--window", type=int, default=1000,
        help="requests in flight in the windowed throughput test (default 1,000; 0: no windowed test)")
    parser.add_argument(
        "--storms", type=int, help="trigger storms, each in a new session (default 3; 1 with --quick; 0: none)")
    parser.add_argument(
        "--no-durability", action="store_true",
        help="no durable-ledger measurements (--ack commit / --ack memory throughput, round trips, convergence)")
    parser.add_argument(
        "--durable-round-trips", type=int,
        help="timed round trips per column of the durability table (default 5,000; 500 with --quick)")
    parser.add_argument(
        "--durable-warmup", type=int, help="warm-up round trips before those (default 200; 50 with --quick)")
    parser.add_argument(
        "--convergence", type=int,
        help="increments in the convergence test between two processes (default 100; 10 with --quick; 0: none)")
    parser.add_argument(
        "--convergence-gap", type=int, default=300,
        help="ms between those increments, before a random 0-250 ms is added (default 300)")
    parser.add_argument(
        "--state-root", help="where the fresh state directories go (default: the system's temporary directory)")
    parser.add_argument(
        "--sqlite-floor", default="bench/out/sqlite_floor",
        help="the bare SQLite commit program (bench/sqlite_floor.c) for the durable round trip's floor")
    parser.add_argument(
        "--fill", default=".build-bench/release/bench-ledger-fill",
        help="the ledger filler (the bench-ledger-fill target) that builds the large ledger")
    parser.add_argument(
        "--large-ledger", type=int,
        help="changes in the large ledger of the first-answer test (default 10,000,000; 200,000 with --quick; 0: none)")
    parser.add_argument(
        "--cross-process", type=int,
        help="enforced increments per process in the cross-process test (default: --n; 0: none)")
    args = parser.parse_args()
    quick = args.quick
    args.n = args.n if args.n is not None else (100_000 if quick else 1_000_000)
    args.round_trips = args.round_trips if args.round_trips is not None else (2_000 if quick else 20_000)
    args.warmup = args.warmup if args.warmup is not None else (200 if quick else 1_000)
    args.spawns = args.spawns if args.spawns is not None else (10 if quick else 30)
    args.storms = args.storms if args.storms is not None else (1 if quick else 3)
    if args.durable_round_trips is None:
        args.durable_round_trips = 500 if quick else 5_000
    args.durable_warmup = args.durable_warmup if args.durable_warmup is not None else (50 if quick else 200)
    args.convergence = args.convergence if args.convergence is not None else (10 if quick else 100)
    if args.large_ledger is None:
        args.large_ledger = 200_000 if quick else 10_000_000
    args.cross_process = args.cross_process if args.cross_process is not None else args.n
    if args.no_durability:
        args.convergence = 0
        args.large_ledger = 0
        args.cross_process = 0
    if args.no_baseline:
        args.baseline = None
    if (min(args.n, args.runs, args.round_trips, args.spawns, args.durable_round_trips) < 1 or args.warmup < 0
            or args.storms < 0 or args.window < 0 or args.durable_warmup < 0 or args.convergence < 0
            or args.convergence_gap < 0 or args.large_ledger < 0 or args.cross_process < 0):
        parser.error("counts must be positive")
    return args


def main() -> int:
    args = parse_args()
    logs = Path(args.logs)
    logs.mkdir(parents=True, exist_ok=True)
    make_state_root(args.state_root)
    try:
        return run(args, logs)
    finally:
        remove_state_root()


def run(args, logs: Path) -> int:
    args.load_at_start = os.getloadavg()
    # usagectx keeps a durable ledger by default; every row but the durability ones measures it with the ledger in
    # memory (--no-state), comparable with the floor and the baseline, which have none.
    programs = [
        Program(label, argv, logs / f"{label}.stderr.log")
        for label, argv in (("floor", [args.floor]), ("usagectx", [args.usagectx, "--no-state"]))
        if args.only in (None, label)
    ]
    # Measured for throughput only, interleaved with the two above: the build from before the refresh scheduler
    # and the reconciliation path, and this build with refresh settings that make reads run during the run.
    extra = []
    if args.only != "floor":
        if args.baseline:
            extra.append(Program("baseline", [args.baseline], logs / "baseline.stderr.log"))
        config = logs / "refresh-aggressive.json"
        config.write_text(json.dumps(AGGRESSIVE_REFRESH) + "\n")
        extra.append(Program("usagectx-refresh", [args.usagectx, "--no-state", "--config", str(config)],
                             logs / "usagectx-refresh.stderr.log"))
        if not args.no_durability:
            # The durable ledger, a new state directory per session: answers after the commit (the default) or
            # before it.
            for label, ack in (("usagectx-ack-memory", "memory"), ("usagectx-durable", "commit")):
                extra.append(Program(label, [args.usagectx, "--state", FRESH_STATE, "--ack", ack],
                                     logs / f"{label}.stderr.log"))
    for program in programs + extra:
        program.log.write_bytes(b"")  # one fresh log per run

    # Cheap, startup-sensitive measurements first, while the harness process is still small.
    log("spawn to first answer")
    for program in programs:
        measure_first_answer(program, args)
    log("idle resident memory")
    for program in programs:
        measure_idle_rss(program, args)
    durable = next((p for p in extra if p.label == "usagectx-durable"), None)
    if durable:
        log("first answer and idle memory with the ledger on disk")
        measure_ledger_sessions(durable, args, logs)
    log("round trip")
    for program in programs:
        measure_round_trip(program, args)
    log("pipelined throughput")
    measure_throughput(programs + extra, args)
    windowed = [p for p in programs + extra if p.label in ("baseline", "usagectx", "usagectx-refresh")]
    if args.window and any(p.label == "baseline" for p in windowed):
        log(f"throughput with at most {args.window:,} requests in flight")
        measure_windowed(windowed, args)
    for program in programs:
        if program.label == "usagectx":
            log("plugin costs")
            measure_plugin_costs(program, args)
            if args.storms:
                log("trigger storm")
                measure_storm(program, args)
    by_label = {p.label: p for p in programs + extra}
    if durable:
        log("durable round trips")
        for label in ("usagectx", "usagectx-ack-memory"):
            if label in by_label:
                measure_round_trip(by_label[label], args, "drt", args.durable_warmup, args.durable_round_trips)
        measure_durable_round_trip(durable, args)
        measure_flush(durable, args)
        if args.cross_process:
            log(f"cross-process enforce ({args.cross_process:,} increments per process)")
            measure_cross_process(durable, args, logs)
        if args.convergence:
            log(f"convergence between two processes ({args.convergence} increments)")
            measure_convergence(durable, args)

    sys.stdout.write(report(programs + extra, args))
    return 1 if any(p.errors for p in programs + extra) or default_state_used() else 0


if __name__ == "__main__":
    sys.exit(main())
