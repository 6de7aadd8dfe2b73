#!/usr/bin/env python3
"""A usagectx exec plugin: one metric, "seats", whose authoritative value is the "seats" option."""
import json
import sys

options = {}
for line in sys.stdin:  # one JSON-RPC request per line; end of input means stop
    request = json.loads(line)
    method, params = request["method"], request.get("params") or {}
    if method == "plugin/describe":
        options = params["options"] or {}
        limits = {"free": 3, "pro": 25, "ultra": None}
        result = {"name": "example", "version": "1.0.0", "metrics": [{"name": "seats", "limits": limits}]}
    elif method == "metric/fetch":
        result = {"value": int(options.get("seats", 0))}
    elif method == "metric/report":
        print(f"seats changed by {params['delta']}", file=sys.stderr, flush=True)  # stderr goes to the log
        result = {}
    else:
        error = {"code": -32601, "message": f"unknown method {method}"}
        print(json.dumps({"jsonrpc": "2.0", "id": request["id"], "error": error}), flush=True)
        continue
    print(json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": result}), flush=True)
