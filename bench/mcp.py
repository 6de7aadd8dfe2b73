#!/usr/bin/env python3
"""MCP benchmark: `usagectx mcp` against a minimal server on the MCP Swift SDK 0.12.1 (bench/mcp-peer).

Both speak MCP over stdio (newline-delimited JSON-RPC) and offer a `usage_check` tool with the same structured result.
For each server, in the same run:

1. throughput: `tools/call usage_check` requests written back to back (pipelined), answers read as they come;
2. round trip: one request in flight at a time (median and 99th percentile);
3. first answer: from spawn to the answer to `initialize` (median over several spawns).

usagectx runs with --no-state (the peer keeps nothing either) and, as a second row, with a durable ledger in a new
state directory. Prints a Markdown table with the ratios and PASS/MISS against the targets (throughput >= 30x the
peer, round trip <= 1/20 of the peer's, first answer <= 10 ms). Python 3 standard library only.

    python3 bench/mcp.py --usagectx .build/release/usagectx --peer bench/out/mcp-peer-build/release/mcp-peer
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

INITIALIZE = {
    "jsonrpc": "2.0", "id": 0, "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}},
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def call(msg_id: int) -> bytes:
    return (json.dumps({
        "jsonrpc": "2.0", "id": msg_id, "method": "tools/call",
        "params": {"name": "usage_check", "arguments": {"metric": "tokens", "amount": 40000}},
    }, separators=(",", ":")) + "\n").encode()


class Server:
    """One MCP server process over pipes."""

    def __init__(self, argv: list[str]):
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def line(self) -> bytes:
        while b"\n" not in self.buffer:
            chunk = os.read(self.process.stdout.fileno(), 1 << 20)
            if not chunk:
                raise RuntimeError("the server closed its output")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line

    def answer(self) -> dict:
        while True:
            message = json.loads(self.line())
            if "id" in message:
                return message

    def handshake(self) -> dict:
        self.send((json.dumps(INITIALIZE) + "\n").encode())
        answer = self.answer()
        self.send((json.dumps(INITIALIZED) + "\n").encode())
        return answer

    def close(self) -> None:
        try:
            self.process.stdin.close()
            self.process.wait(timeout=10)
        except Exception:
            self.process.kill()
            self.process.wait()


def check(answer: dict) -> None:
    result = answer.get("result") or {}
    structured = result.get("structuredContent") or {}
    if result.get("isError") or structured.get("allowed") is not True:
        raise RuntimeError(f"unexpected answer: {answer}")


def throughput(argv: list[str], count: int) -> float:
    server = Server(argv)
    server.handshake()
    payload = b"".join(call(i) for i in range(1, count + 1))
    begin = time.perf_counter()
    writer = threading.Thread(target=server.send, args=(payload,))
    writer.start()
    answered = 0
    last = None
    while answered < count:
        line = server.line()
        if b'"id"' in line:
            answered += 1
            last = line
    elapsed = time.perf_counter() - begin
    writer.join()
    check(json.loads(last))
    server.close()
    return count / elapsed


def round_trips(argv: list[str], count: int) -> tuple[float, float]:
    server = Server(argv)
    server.handshake()
    for i in range(50):  # warm up
        server.send(call(i + 1))
        server.answer()
    times = []
    for i in range(count):
        begin = time.perf_counter()
        server.send(call(1000 + i))
        answer = server.answer()
        times.append(time.perf_counter() - begin)
    check(answer)
    server.close()
    times.sort()
    return statistics.median(times) * 1000, times[int(len(times) * 0.99) - 1] * 1000


def first_answer(argv: list[str], spawns: int) -> float:
    times = []
    for _ in range(spawns):
        server = Server(argv)
        server.handshake()
        times.append(time.perf_counter() - server.started)
        server.close()
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--usagectx", default=".build/release/usagectx")
    parser.add_argument("--peer", default="bench/out/mcp-peer-build/release/mcp-peer")
    parser.add_argument("--n", type=int, default=20_000, help="requests per throughput run")
    parser.add_argument("--rt", type=int, default=2_000, help="round trips")
    parser.add_argument("--spawns", type=int, default=20, help="spawns for the first answer")
    args = parser.parse_args()

    state = tempfile.mkdtemp(prefix="usagectx-mcp-bench-")
    programs = [
        ("usagectx mcp --no-state", [args.usagectx, "mcp", "--no-state"]),
        ("usagectx mcp (durable ledger)", [args.usagectx, "mcp", "--state", state]),
        ("MCP Swift SDK 0.12.1", [args.peer]),
    ]
    rows = {}
    for name, argv in programs:
        print(f"measuring {name} ...", file=sys.stderr)
        rate = throughput(argv, args.n)
        median, p99 = round_trips(argv, args.rt)
        first = first_answer(argv, args.spawns)
        rows[name] = (rate, median, p99, first)

    peer = rows["MCP Swift SDK 0.12.1"]
    print("| server | tools/call usage_check per s | round trip median (ms) | p99 (ms) | first answer (ms) |")
    print("|---|---:|---:|---:|---:|")
    for name, (rate, median, p99, first) in rows.items():
        print(f"| {name} | {rate:,.0f} | {median:.3f} | {p99:.3f} | {first:.1f} |")
    print()
    print("| target | measured | result |")
    print("|---|---:|---|")
    ours = rows["usagectx mcp --no-state"]
    ratio = ours[0] / peer[0]
    print(f"| throughput >= 30x the SDK | {ratio:.1f}x | {'PASS' if ratio >= 30 else 'MISS'} |")
    share = ours[1] / peer[1]
    print(f"| round trip <= 1/20 of the SDK's | 1/{1 / share:.1f} | {'PASS' if share <= 1 / 20 else 'MISS'} |")
    print(f"| first answer <= 10 ms | {ours[3]:.1f} ms | {'PASS' if ours[3] <= 10 else 'MISS'} |")


if __name__ == "__main__":
    main()
