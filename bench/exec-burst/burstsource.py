#!/usr/bin/env python3
"""The exec-burst benchmark's plugin: the authority of one metric, "seats", speaking protocol version 2.

metric/fetch answers the value; metric/report ({"changes": [...]}) adds each change's delta and answers one result
per change. Nothing is written anywhere else: the benchmark measures usagectx's side of the exchange.
"""
import json
import sys

value = 0
out = sys.stdout
for line in sys.stdin:  # one JSON-RPC request per line; end of input means stop
    if not line.strip():
        continue
    request = json.loads(line)
    method, params = request["method"], request.get("params") or {}
    if method == "plugin/describe":
        limits = {"free": None, "pro": None, "ultra": None}
        result = {"name": "burstsource", "version": "1.0.0", "protocolVersion": 2,
                  "metrics": [{"name": "seats", "limits": limits}]}
    elif method == "metric/fetch":
        result = {"value": value}
    elif method == "metric/report":
        changes = params.get("changes", [params])
        for change in changes:
            value += int(change["delta"])
        result = {"results": [{}] * len(changes)} if "changes" in params else {}
    else:
        out.write(json.dumps({"jsonrpc": "2.0", "id": request["id"],
                              "error": {"code": -32601, "message": f"unknown method {method}"}}) + "\n")
        out.flush()
        continue
    out.write(json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": result}) + "\n")
    out.flush()
