#!/usr/bin/env python3
"""A burst of increments on a metric held by an exec plugin against the same burst on a local metric, same run.

usage: python3 bench/exec_burst.py USAGECTX [--n 40000] [--runs 3]

Each run starts `USAGECTX --state <fresh dir> --no-default-plugins --plugins bench/exec-burst --plugins <standard>`
— the standard plugins come from beside the binary — and writes N pipelined `usage/increment` requests (newline
framing, one write) of either `seats` (held by bench/exec-burst/burstsource.py, protocol version 2) or `requests`
(a local metric: its authority is the ledger). Measured from the first byte written: **answered**, when the last of
the N answers arrived; for the exec metric also **settled**, when `usage/get` first says `sync.unconfirmed` is 0
(every change acknowledged by the plugin and out of the outbox's flight), polled every 20 ms after the answers.
Runs alternate between the two metrics; best and median are printed, with the ratios exec/local.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def run(binary, metric, n):
    state = tempfile.mkdtemp(prefix="usagectx-burst-")
    try:
        command = [binary, "--state", state, "--no-default-plugins", "--plugins", os.path.dirname(binary),
                   "--plugins", os.path.join(HERE, "exec-burst"), "--log-level", "error"]
        child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        requests = b"".join(
            b'{"jsonrpc":"2.0","id":%d,"method":"usage/increment","params":{"metric":"%s"}}\n' % (i, metric.encode())
            for i in range(1, n + 1))
        started = time.perf_counter()
        writer = threading.Thread(target=child.stdin.write, args=(requests,))
        writer.start()
        buffered = b""
        answers = 0
        last = b""
        while answers < n:
            chunk = child.stdout.read(1 << 16)
            if not chunk:
                raise RuntimeError(f"usagectx ended after {answers} answers")
            buffered += chunk
            lines = buffered.split(b"\n")
            buffered = lines.pop()
            answers += len(lines)
            if lines:
                last = lines[-1]
        answered = time.perf_counter() - started
        writer.join()
        used = json.loads(last)["result"]["used"]
        if used != n:
            raise RuntimeError(f"the last answer says used {used}, not {n}")
        settled = None
        if metric == "seats":
            ident = n + 1
            while True:
                request = b'{"jsonrpc":"2.0","id":%d,"method":"usage/get","params":{"metrics":["seats"]}}\n' % ident
                child.stdin.write(request)
                line = buffered
                while not line.endswith(b"\n"):
                    line += child.stdout.read(1)
                buffered = b""
                sync = json.loads(line)["result"]["metrics"]["seats"]["sync"]
                if sync["unconfirmed"] == 0:
                    settled = time.perf_counter() - started
                    break
                ident += 1
                time.sleep(0.02)
        child.stdin.close()
        child.wait(timeout=60)
        return answered, settled
    finally:
        shutil.rmtree(state, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("usagectx")
    parser.add_argument("--n", type=int, default=40_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    local, exec_answered, exec_settled = [], [], []
    for _ in range(args.runs):
        answered, _ = run(args.usagectx, "requests", args.n)
        local.append(answered)
        answered, settled = run(args.usagectx, "seats", args.n)
        exec_answered.append(answered)
        exec_settled.append(settled)
    print(f"| {args.n:,}-increment burst ({args.runs} runs) | best s | median s | exec/local (median) |")
    print("|---|---|---|---|")
    print(f"| local metric (`requests`), answered | {min(local):.3f} | {statistics.median(local):.3f} | |")
    for name, values in [("answered", exec_answered), ("settled (all acknowledged)", exec_settled)]:
        ratio = statistics.median(values) / statistics.median(local)
        print(f"| exec metric (`seats`, protocol 2), {name} | {min(values):.3f} | {statistics.median(values):.3f} "
              f"| {ratio:.2f}× |")


if __name__ == "__main__":
    sys.exit(main())
