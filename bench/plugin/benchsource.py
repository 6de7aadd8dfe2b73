#!/usr/bin/env python3
"""The benchmark's exec plugin: the authority of two metrics, "seats" and "projects".

Every metric/fetch is appended as one line ("<metric>\n") to the file named by USAGECTX_BENCH_FETCHES, before it is
answered, so the harness can count the reads usagectx makes. metric/report adds the delta to the value it answers.
"""
import json
import os
import sys

values = {"seats": 7, "projects": 3}
log_path = os.environ.get("USAGECTX_BENCH_FETCHES")
log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) if log_path else None

for line in sys.stdin:  # one JSON-RPC request per line; end of input means stop
    if not line.strip():
        continue
    request = json.loads(line)
    method, params = request["method"], request.get("params") or {}
    if method == "plugin/describe":
        limits = {"free": 100, "pro": 1000, "ultra": None}
        metrics = [{"name": name, "limits": limits} for name in values]
        result = {"name": "benchsource", "version": "1.0.0", "metrics": metrics}
    elif method == "metric/fetch" and params.get("metric") in values:
        if log_fd is not None:
            os.write(log_fd, f"{params['metric']}\n".encode())  # one write with O_APPEND: whole lines
        result = {"value": values[params["metric"]]}
    elif method == "metric/report" and params.get("metric") in values:
        values[params["metric"]] = max(0, values[params["metric"]] + int(params["delta"]))
        result = {}
    else:
        error = {"code": -32601, "message": f"unknown method {method}"}
        print(json.dumps({"jsonrpc": "2.0", "id": request["id"], "error": error}), flush=True)
        continue
    print(json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": result}), flush=True)
