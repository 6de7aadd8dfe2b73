#!/usr/bin/env python3
"""A configurable exec plugin for the tests: behaves well or fails in the way its arguments ask.

Arguments:
  --name NAME           the name it describes itself with (default: fixture); must match the manifest's
  --metric NAME         a metric it defines (repeatable; default: widgets)
  --source NAME         a metric of another plugin it is the authority for (repeatable)
  --value N             what metric/fetch answers (default 7; options.value overrides)
                        (options.metrics, a list of names, overrides --metric)
  --mode MODE           serve (default), crash-at-start, garbage, wrong-id, long-line, hang, refuse-options,
                        crash-later, ignore-stdin-eof
  --crash-after-ms N    crash-later: exit with status 5 this long after answering plugin/describe
  --marker PATH         a file marking the first run: when it exists, this is a restart (crash-later then
                        serves); created otherwise
  --restart-delay-ms N  when restarted (see --marker), wait this long before answering plugin/describe
  --hang-fetch NAME     never answer metric/fetch for this metric
  --crash-fetch NAME    exit with status 7 on metric/fetch for this metric
  --refuse-fetch NAME   answer metric/fetch for this metric with an error carrying retryAfterMs 1500
  --state FILE          a small authority: the metrics' values live in FILE, a JSON object {"<metric>": n, ...}
                        (a metric missing there, or a missing file, has the value metric/fetch answers without
                        --state). metric/fetch reads the file each time it answers (a negative value is answered
                        as 0); metric/report adds its delta to the metric in the file, written to a temporary file
                        and renamed into place. Tests play "another device wrote" by rewriting the file
                        (atomically too, by renaming)
  --lose-reports        answer metric/report with {} but apply nothing (a backend that loses the write)
  --refuse-reports      answer metric/report with an error (code -32000, or --report-error-code) and apply nothing
  --report-error-code N     the code of --refuse-reports' error
  --report-error-retry B    add "data": {"retry": B} (true or false) to --refuse-reports' error
  --report-retry-after-ms N add "retryAfterMs": N to the data of --refuse-reports' and --reports-down-file's errors
  --reports-down-file PATH  while PATH exists, answer metric/report with a transient error (data.retry true) and
                        apply nothing; once it is gone, reports are applied again
  --reports-down-plain  --reports-down-file's error is a version-1 one: code -32000, no data.retry
  --protocol-version N  answer plugin/describe with "protocolVersion": N; with 2, metric/report carries
                        {"changes": [...]} and is answered {"results": [...]}, one entry per change, in order: a
                        change whose key starts with "refuse:" gets a permanent error entry, the others {}
  --ignore-reports      never answer metric/report (a backend that is away; give the manifest a long timeoutMs)
  --dedupe-keys         with --state: apply a report whose key was already applied only once (the keys are kept in
                        the state file under "_keys"), as an authority that honours idempotency keys does
  --down-file PATH      while PATH exists, answer metric/fetch with the error {"code": -32000, "message": "the
                        source is down"}, with "data": {"retryAfterMs": N} when --down-retry-after-ms N is given
  --down-retry-after-ms N  see --down-file
  --fetch-delay-ms N    sleep this long before answering each metric/fetch (requests are answered in order, so
                        requests behind it wait too); the answer reflects --state and --down-file as they are
                        after the sleep
Environment:
  FIXTURE_REPORTS       a file to which every metric/report's params are appended, one JSON object per line
                        (refused and lost reports included); in version 2 one line per change
  FIXTURE_BATCHES       a file to which the number of changes of each metric/report is appended, one per line
  FIXTURE_FETCHES       a file to which one line {"metric": NAME, "time": MS} is appended (and flushed) when each
                        metric/fetch arrives; MS is CLOCK_MONOTONIC in whole milliseconds
"""
import argparse
import json
import os
import sys
import threading
import time

parser = argparse.ArgumentParser()
parser.add_argument("--name", default="fixture")
parser.add_argument("--metric", action="append")
parser.add_argument("--source", action="append", default=[])
parser.add_argument("--value", type=int, default=7)
parser.add_argument("--mode", default="serve")
parser.add_argument("--crash-after-ms", type=int, default=300)
parser.add_argument("--marker")
parser.add_argument("--restart-delay-ms", type=int, default=0)
parser.add_argument("--hang-fetch")
parser.add_argument("--crash-fetch")
parser.add_argument("--refuse-fetch")
parser.add_argument("--state")
parser.add_argument("--lose-reports", action="store_true")
parser.add_argument("--refuse-reports", action="store_true")
parser.add_argument("--report-error-code", type=int, default=-32000)
parser.add_argument("--report-error-retry", choices=["true", "false"])
parser.add_argument("--report-retry-after-ms", type=int)
parser.add_argument("--reports-down-file")
parser.add_argument("--reports-down-plain", action="store_true")
parser.add_argument("--protocol-version", type=int)
parser.add_argument("--ignore-reports", action="store_true")
parser.add_argument("--dedupe-keys", action="store_true")
parser.add_argument("--down-file")
parser.add_argument("--down-retry-after-ms", type=int)
parser.add_argument("--fetch-delay-ms", type=int, default=0)
args = parser.parse_args()
metrics = args.metric or ["widgets"]


def log(text):
    print(f"fixture[{os.getpid()}]: {text}", file=sys.stderr, flush=True)


def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def answer(request, result):
    send({"jsonrpc": "2.0", "id": request["id"], "result": result})


def refuse(request, code, message, data=None):
    error = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    send({"jsonrpc": "2.0", "id": request["id"], "error": error})


def read_state():
    """The --state file's object; {} when there is none. Retries a file caught half written by a careless writer."""
    for _ in range(50):
        try:
            with open(args.state) as file:
                values = json.load(file)
            if isinstance(values, dict):
                return values
        except FileNotFoundError:
            return {}
        except ValueError:
            pass
        time.sleep(0.01)
    raise RuntimeError(f"{args.state} does not hold a JSON object")


def write_state(values):
    """Replaces the --state file at once: a reader sees the old file or the new one, never half of one."""
    temporary = f"{args.state}.{os.getpid()}.tmp"
    with open(temporary, "w") as file:
        json.dump(values, file)
    os.replace(temporary, args.state)


def stored_value(metric, values):
    """The metric's value in the --state object `values`, or the value it has without --state; may be negative."""
    return int(values.get(metric, options.get("value", args.value)))


def value_of(metric):
    """What metric/fetch answers: never negative, since the protocol allows no negative value."""
    return max(0, stored_value(metric, read_state() if args.state else {}))


def note_fetch(metric):
    path = os.environ.get("FIXTURE_FETCHES")
    if path:
        with open(path, "a") as fetches:
            fetches.write(json.dumps({"metric": metric, "time": int(time.monotonic() * 1000)}) + "\n")
            fetches.flush()


def report_error(metric):
    """The error answering a whole metric/report, or None when its changes are to be applied."""
    data = {}
    if args.report_retry_after_ms is not None:
        data["retryAfterMs"] = args.report_retry_after_ms
    if args.reports_down_file and os.path.exists(args.reports_down_file):
        if args.reports_down_plain:
            return {"code": -32000, "message": "the billing service is unavailable"}
        data["retry"] = True
        return {"code": -32001, "message": "the billing service is unavailable", "data": data}
    if args.refuse_reports:
        if args.report_error_retry is not None:
            data["retry"] = args.report_error_retry == "true"
        error = {"code": args.report_error_code, "message": f"the billing service refused the change to {metric}"}
        if data:
            error["data"] = data
        return error
    return None


def apply_change(change):
    """Adds a reported change to the --state file (unless --lose-reports), honouring --dedupe-keys."""
    if not args.state or args.lose_reports:
        return
    metric = change["metric"]
    values = read_state()
    keys = values.setdefault("_keys", []) if args.dedupe_keys else []
    key = change.get("key")
    if not (args.dedupe_keys and key is not None and key in keys):
        values[metric] = stored_value(metric, values) + int(change["delta"])
        if args.dedupe_keys and key is not None:
            keys.append(key)
    write_state(values)


restarted = False
if args.marker:
    restarted = os.path.exists(args.marker)
    if not restarted:
        open(args.marker, "w").close()

log(f"started in mode {args.mode}" + (" (restarted)" if restarted else ""))
with open("/proc/self/status") as status:
    blocked = next((line.split()[1] for line in status if line.startswith("SigBlk:")), "unknown")
log(f"blocked signals {blocked}")
if args.mode == "crash-at-start":
    log("failing on purpose")
    sys.exit(3)

options = {}
while True:
    line = sys.stdin.readline()
    if not line:
        if args.mode == "ignore-stdin-eof":
            log("ignoring the end of input")
            while True:
                time.sleep(1)
        log("end of input; exiting")
        break
    if not line.strip():
        continue
    request = json.loads(line)
    method, params = request.get("method"), request.get("params") or {}
    if method == "plugin/describe":
        options = params.get("options") or {}
        if args.mode == "garbage":
            sys.stdout.write("this is not json\n")
            sys.stdout.flush()
            continue
        if args.mode == "hang":
            log("not answering plugin/describe")
            continue
        if args.mode == "wrong-id":
            send({"jsonrpc": "2.0", "id": request["id"] + 1000, "result": {}})
            continue
        if args.mode == "long-line":
            sys.stdout.write('{"pad": "' + "x" * (2 << 20) + '"}\n')
            sys.stdout.flush()
            continue
        if args.mode == "refuse-options" or options.get("refuse"):
            refuse(request, -32602, f"config.plugins.{args.name}.refuse: is not accepted")
            continue
        if restarted and args.restart_delay_ms:
            time.sleep(args.restart_delay_ms / 1000)
        described = {
            "name": args.name,
            "version": "2.1.0",
            "metrics": [
                {"name": metric, "unit": metric, "kind": "count",
                 "limits": {"free": 10, "pro": 100, "ultra": None}, "period": "monthly"}
                for metric in options.get("metrics", metrics)
            ],
        }
        if args.source:
            described["sources"] = args.source
        if args.protocol_version is not None:
            described["protocolVersion"] = args.protocol_version
        answer(request, described)
        if args.mode == "crash-later" and not restarted:
            timer = threading.Timer(args.crash_after_ms / 1000, lambda: (log("crashing on purpose"), os._exit(5)))
            timer.daemon = True
            timer.start()
    elif method == "metric/fetch":
        metric = params["metric"]
        note_fetch(metric)
        if metric == args.hang_fetch:
            log(f"not answering metric/fetch for {metric}")
            continue
        if metric == args.crash_fetch:
            log(f"crashing on metric/fetch for {metric}")
            os._exit(7)
        if metric == args.refuse_fetch:
            refuse(request, -32000, "the billing service is busy", {"retryAfterMs": 1500})
            continue
        if args.fetch_delay_ms:
            time.sleep(args.fetch_delay_ms / 1000)
        if args.down_file and os.path.exists(args.down_file):
            data = None if args.down_retry_after_ms is None else {"retryAfterMs": args.down_retry_after_ms}
            refuse(request, -32000, "the source is down", data)
            continue
        answer(request, {"value": value_of(metric)})
    elif method == "metric/report":
        changes = params["changes"] if "changes" in params else [params]
        path = os.environ.get("FIXTURE_REPORTS")
        if path:
            with open(path, "a") as reports:
                for change in changes:
                    reports.write(json.dumps(change) + "\n")
        path = os.environ.get("FIXTURE_BATCHES")
        if path:
            with open(path, "a") as batches:
                batches.write(f"{len(changes)}\n")
        if args.ignore_reports:
            continue
        error = report_error(changes[0]["metric"])
        if error is not None:
            send({"jsonrpc": "2.0", "id": request["id"], "error": error})
            continue
        results = []
        for change in changes:
            if str(change.get("key") or "").startswith("refuse:"):
                results.append({"error": {"code": -32010, "message": f"change {change['key']} is refused",
                                          "data": {"retry": False}}})
                continue
            apply_change(change)
            results.append({})
        answer(request, {"results": results} if "changes" in params else {})
    else:
        refuse(request, -32601, f"unknown method {method}")
