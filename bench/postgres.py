#!/usr/bin/env python3
"""Increments per second through usagectx with the PostgreSQL authority, against pgbench running the equivalent
single-statement script (`UPDATE ... SET used = used + 1 ... RETURNING used`) on the same cluster, in the same run.

    python3 bench/postgres.py [--binary .build/release/usagectx] [--url URL] [--increments 200000]
                              [--seconds 10] [--clients 1] [--runs 3]

Without --url a throwaway cluster is started (scripts/throwaway-postgres) and stopped at the end. Each usagectx
client is one sidecar (one connection) with a state directory of its own on one account; its increments are
pipelined (written by a thread, answers counted here), so a burst of input is one transaction. pgbench gets the same
number of connections (-c, -j). Prints a table; exit 1 if an answer is missing or the stored total is off.
"""
import argparse
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


def bindir():
    for candidate in sorted(
        (d for d in (os.path.join("/usr/lib/postgresql", v, "bin") for v in os.listdir("/usr/lib/postgresql"))
         if os.path.exists(os.path.join(d, "pgbench"))), reverse=True):
        return candidate
    found = shutil.which("pgbench")
    if found:
        return os.path.dirname(found)
    sys.exit("pgbench not found")


def psql(url, sql):
    return subprocess.run([os.path.join(bindir(), "psql"), url, "-Atqc", sql], check=True, capture_output=True,
                          text=True).stdout.strip()


def pgbench(url, seconds, clients):
    psql(url, "CREATE TABLE IF NOT EXISTS bench_counters (account bigint PRIMARY KEY, used bigint NOT NULL);"
              "TRUNCATE bench_counters; INSERT INTO bench_counters VALUES (1, 0);")
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write("UPDATE bench_counters SET used = used + 1 WHERE account = 1 RETURNING used;\n")
    try:
        out = subprocess.run([os.path.join(bindir(), "pgbench"), "-n", "-c", str(clients), "-j", str(clients),
                              "-T", str(seconds), "-f", script.name, url], check=True, capture_output=True,
                             text=True).stdout
    finally:
        os.unlink(script.name)
    match = re.search(r"tps = ([0-9.]+)", out)
    return float(match.group(1))


def usagectx(binary, url, account, increments, clients):
    """Starts `clients` sidecars on one account, pipelines `increments` into each; returns increments/s."""
    request = '{"jsonrpc":"2.0","id":%d,"method":"usage/increment","params":{"metric":"requests"}}\n'
    config = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    config.write('{"metrics": {"requests": {"limits": {"free": null}}}, "refresh": {"intervalMs": null}}')
    config.close()
    states = [tempfile.mkdtemp(prefix="usagectx-bench-pg-") for _ in range(clients)]
    processes = [subprocess.Popen([binary, "--authority", url, "--account", account, "--state", state,
                                   "--config", config.name], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, bufsize=0) for state in states]
    payload = "".join(request % n for n in range(increments)).encode()
    counts = [0] * clients

    def write(process):
        view = memoryview(payload)
        for offset in range(0, len(view), 1 << 20):
            process.stdin.write(view[offset:offset + (1 << 20)])
        process.stdin.close()

    def read(position, process):
        seen = 0
        while True:
            chunk = process.stdout.read(1 << 20)
            if not chunk:
                break
            seen += chunk.count(b"\n")
        counts[position] = seen

    start = time.monotonic()
    threads = [threading.Thread(target=write, args=(p,)) for p in processes]
    threads += [threading.Thread(target=read, args=(i, p)) for i, p in enumerate(processes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - start
    for process in processes:
        process.wait()
    os.unlink(config.name)
    for state in states:
        shutil.rmtree(state, ignore_errors=True)
    if counts != [increments] * clients:
        raise RuntimeError("answers missing: %s" % counts)
    return increments * clients / elapsed


def convergence(binary, url, account, changes):
    """Two devices on one account: the delay from one device's answer to an increment to the other's `usage/changed`
    showing it (NOTIFY, then a read of the counters), in milliseconds, sorted."""
    config = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    config.write('{"refresh": {"intervalMs": null, "mutationDebounceMs": 3600000}}')
    config.close()
    states = [tempfile.mkdtemp(prefix="usagectx-bench-pg-") for _ in range(2)]
    writer, watcher = (subprocess.Popen([binary, "--authority", url, "--account", account, "--state", state,
                                         "--config", config.name], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, bufsize=0) for state in states)

    def lines(process):
        buffer = b""
        while True:
            while b"\n" not in buffer:
                chunk = process.stdout.read1(65536) if hasattr(process.stdout, "read1") else os.read(
                    process.stdout.fileno(), 65536)
                if not chunk:
                    return
                buffer += chunk
            line, buffer = buffer.split(b"\n", 1)
            yield line

    watcher.stdin.write(b'{"jsonrpc":"2.0","id":0,"method":"usage/subscribe","params":{"metrics":["requests"]}}\n')
    watched = lines(watcher)
    next(watched)
    written = lines(writer)
    delays = []
    for n in range(1, changes + 1):
        writer.stdin.write(b'{"jsonrpc":"2.0","id":%d,"method":"usage/increment","params":{"metric":"requests"}}\n' % n)
        next(written)
        answered = time.monotonic()
        for line in watched:
            if b'"usage/changed"' in line and b'"used":%d,' % n in line:
                delays.append((time.monotonic() - answered) * 1000)
                break
        time.sleep(0.02)
    for process in (writer, watcher):
        process.stdin.close()
        process.wait()
    os.unlink(config.name)
    for state in states:
        shutil.rmtree(state, ignore_errors=True)
    return sorted(delays)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "usagectx"))
    parser.add_argument("--url")
    parser.add_argument("--increments", type=int, default=200_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    directory = None
    url = args.url
    if not url:
        directory = subprocess.run([SCRIPT, "start"], check=True, capture_output=True, text=True).stdout.strip()
        url = subprocess.run([SCRIPT, "url", directory], check=True, capture_output=True, text=True).stdout.strip()
    failed = False
    try:
        ours, theirs = [], []
        for run in range(args.runs):
            account = "bench-%d-%d" % (os.getpid(), run)
            ours.append(usagectx(args.binary, url, account, args.increments, args.clients))
            stored = int(psql(url, "SELECT used FROM usagectx.counters c JOIN usagectx.accounts a ON a.id = c.account"
                                   " WHERE a.name = '%s' AND metric = 'requests' AND day = -1 AND label = ''"
                                   % account))
            if stored != args.increments * args.clients:
                print("stored %d, sent %d" % (stored, args.increments * args.clients), file=sys.stderr)
                failed = True
            theirs.append(pgbench(url, args.seconds, args.clients))
        delays = convergence(args.binary, url, "bench-converge-%d" % os.getpid(), 200)
        ours.sort()
        theirs.sort()
        print("| Measurement (%d connection%s) | pgbench `UPDATE … RETURNING` | usagectx | usagectx/pgbench |"
              % (args.clients, "" if args.clients == 1 else "s"))
        print("|---|--:|--:|--:|")
        for name, pick in (("best", -1), ("median", len(ours) // 2)):
            print("| Increments/s, %s of %d | %.0f | %.0f | %.2f |"
                  % (name, args.runs, theirs[pick], ours[pick], ours[pick] / theirs[pick]))
        print()
        print("| Convergence: one device's answer to the other's `usage/changed` (ms, %d changes) | usagectx |"
              % len(delays))
        print("|---|--:|")
        for name, position in (("p50", len(delays) // 2), ("p99", int(len(delays) * 0.99)), ("max", -1)):
            print("| %s | %.1f |" % (name, delays[position]))
    finally:
        if directory:
            subprocess.run([SCRIPT, "stop", directory], check=False)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
