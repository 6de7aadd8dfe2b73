#!/usr/bin/env python3
"""Many devices on one account: N sidecars (state directories of their own) each subscribed to `requests` and
sending increments at an even share of an aggregate rate for a while; reports how long each subscriber took to show
what had been committed (p50/p99/max over every subscriber and every 100 ms checkpoint), the aggregate rate reached,
and whether the account holds exactly what was acknowledged (0 lost, 0 double-counted).

    python3 bench/postgres_scale.py [--binary .build-release/release/usagectx] [--url URL] [--devices 100]
                                    [--rate 10000] [--seconds 30]

Without --url a throwaway cluster is started (scripts/throwaway-postgres) and stopped at the end.
"""
import argparse
import bisect
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "scripts", "throwaway-postgres")
USED = re.compile(rb'"requests":\{"name":"requests"[^}]*?"used":(\d+)')
ANSWER_USED = re.compile(rb'^\{"jsonrpc":"2.0","id":(\d+),"result":\{"name":"requests"[^}]*?"used":(\d+)')


class Device:
    def __init__(self, binary, url, account, config):
        self.state = tempfile.mkdtemp(prefix="usagectx-scale-")
        self.process = subprocess.Popen(
            [binary, "--authority", url, "--account", account, "--state", self.state, "--config", config],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)
        self.seen = []  # (time, used) from usage/changed, in arrival order
        self.answered = 0
        self.max_answer = 0
        self.answers = []  # (time, used) of the answers, in arrival order
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()
        self.send(b'{"jsonrpc":"2.0","id":0,"method":"usage/subscribe","params":{"metrics":["requests"]}}\n')

    def send(self, data):
        self.process.stdin.write(data)

    def read(self):
        buffer = b""
        while True:
            chunk = os.read(self.process.stdout.fileno(), 1 << 16)
            if not chunk:
                return
            now = time.monotonic()
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if line.startswith(b'{"jsonrpc":"2.0","method":"usage/changed"'):
                    match = USED.search(line)
                    if match:
                        self.seen.append((now, int(match.group(1))))
                else:
                    match = ANSWER_USED.match(line)
                    if match and match.group(1) != b"0":
                        self.answered += 1
                        self.max_answer = max(self.max_answer, int(match.group(2)))
                        self.answers.append((now, int(match.group(2))))

    def first_at_least(self, value, after):
        """When this device first showed `value` or more, at or after `after` (None if never)."""
        for when, used in self.seen:
            if when >= after and used >= value:
                return when
        return None

    def close(self):
        self.process.stdin.close()
        self.process.wait()
        self.reader.join(5)
        shutil.rmtree(self.state, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build-release", "release", "usagectx"))
    parser.add_argument("--url")
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--rate", type=int, default=10_000, help="aggregate increments per second")
    parser.add_argument("--seconds", type=int, default=30)
    args = parser.parse_args()
    directory = None
    url = args.url
    if not url:
        directory = subprocess.run([SCRIPT, "start"], check=True, capture_output=True, text=True).stdout.strip()
        url = subprocess.run([SCRIPT, "url", directory], check=True, capture_output=True, text=True).stdout.strip()
    config = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    config.write('{"metrics": {"requests": {"limits": {"free": null}}}, "refresh": {"intervalMs": null}}')
    config.close()
    account = "scale-%d" % os.getpid()
    devices = [Device(args.binary, url, account, config.name) for _ in range(args.devices)]
    try:
        time.sleep(1)  # the devices connect and subscribe
        tick = 0.1
        per_tick = max(1, round(args.rate * tick / args.devices))
        sent = 0
        checkpoints = []  # (time, highest total answered so far)
        start = time.monotonic()
        next_id = 1
        while time.monotonic() - start < args.seconds:
            for device in devices:
                device.send(b"".join(
                    b'{"jsonrpc":"2.0","id":%d,"method":"usage/increment","params":{"metric":"requests"}}\n' % (next_id + n)
                    for n in range(per_tick)))
            next_id += per_tick
            sent += per_tick * len(devices)
            checkpoints.append((time.monotonic(), max(d.max_answer for d in devices)))
            time.sleep(max(0, start + len(checkpoints) * tick - time.monotonic()))
        deadline = time.monotonic() + 60
        while sum(d.answered for d in devices) < sent and time.monotonic() < deadline:
            time.sleep(0.1)
        elapsed = time.monotonic() - start
        acknowledged = sum(d.answered for d in devices)
        time.sleep(2)
        # When each total was first acknowledged anywhere (an answer's `used` is the account's total after it).
        answers = sorted((used, when) for device in devices for when, used in device.answers)
        used_values = [used for used, _ in answers]
        earliest_from = [0.0] * len(answers)
        best = float("inf")
        for position in range(len(answers) - 1, -1, -1):
            best = min(best, answers[position][1])
            earliest_from[position] = best
        delays = []
        never = 0
        for _, total in checkpoints:
            if total == 0:
                continue
            at = earliest_from[bisect.bisect_left(used_values, total)]
            for device in devices:
                shown = device.first_at_least(total, at - 5)
                if shown is None:
                    never += 1
                else:
                    delays.append(max(0.0, shown - at) * 1000)
        delays.sort()
        stored = int(subprocess.run(
            ["psql", url, "-Atqc",
             "SELECT coalesce(sum(used), 0) FROM usagectx.counters c JOIN usagectx.accounts a ON a.id = c.account"
             " WHERE a.name = '%s' AND metric = 'requests' AND day = -1 AND label = ''" % account],
            check=True, capture_output=True, text=True).stdout.strip() or 0)
        print("| Measurement (%d devices, one account, %d increments/s asked, %d s) | usagectx |"
              % (args.devices, args.rate, args.seconds))
        print("|---|--:|")
        print("| Increments sent / acknowledged / stored | %d / %d / %d |" % (sent, acknowledged, stored))
        print("| Aggregate increments/s reached (acknowledged / time to the last answer) | %.0f |" % (acknowledged / elapsed))
        if delays:
            for name, position in (("p50", len(delays) // 2), ("p99", int(len(delays) * 0.99)), ("max", -1)):
                print("| Convergence %s: a committed total shown by every subscriber (ms) | %.1f |"
                      % (name, delays[position]))
        print("| Checkpoints × subscribers never shown | %d |" % never)
        failed = stored != acknowledged or acknowledged != sent
    finally:
        for device in devices:
            device.close()
        os.unlink(config.name)
        if directory:
            subprocess.run([SCRIPT, "stop", directory], check=False)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
