"""Drives `usagectx mcp` with the official Python MCP SDK client (ClientSession over stdio_client).

usage: sdk_client.py USAGECTX STATE_DIR

Lists and calls every tool, reads resources and subscribes to one, makes an increment through another process
(`usagectx call` on the same state directory) and waits for notifications/resources/updated; checks that bad
arguments give isError results and that the session survives them. Prints one line per step and "MCP SDK OK" at the
end; exits non-zero with the reason otherwise.
"""

import asyncio
import json
import subprocess
import sys
import warnings

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

BINARY, STATE = sys.argv[1], sys.argv[2]
# Newer SDKs mark the 2025-06-18 subscription API as superseded by later revisions; this server speaks 2025-06-18.
warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", message=".*removed as of.*")
DEADLINE = 30.0


def check(condition, what):
    if not condition:
        raise SystemExit(f"FAILED: {what}")
    print(f"ok: {what}", flush=True)


def field(result, name):
    """Reads a snake_case attribute of an SDK result, whichever spelling the SDK version uses."""
    camel = "".join(word if index == 0 else word.capitalize() for index, word in enumerate(name.split("_")))
    for candidate in (name, camel):
        if hasattr(result, candidate):
            return getattr(result, candidate)
    raise AttributeError(name)


async def main():
    updates = []
    updated = asyncio.Event()

    async def on_message(message):
        root = getattr(message, "root", message)
        method = getattr(root, "method", None)
        if method == "notifications/resources/updated":
            updates.append(str(root.params.uri))
            updated.set()

    server = StdioServerParameters(command=BINARY, args=["mcp", "--state", STATE, "--tier", "free"])
    async with stdio_client(server) as (read, write):
        async with ClientSession(read, write, message_handler=on_message) as session:
            init = await asyncio.wait_for(session.initialize(), DEADLINE)
            check(field(init, "server_info").name == "usagectx", "initialize names usagectx")
            capabilities = init.capabilities
            check(capabilities.resources is not None and capabilities.resources.subscribe, "resources can be subscribed")
            await session.send_ping()

            tools = await session.list_tools()
            names = sorted(tool.name for tool in tools.tools)
            check(names == ["usage_check", "usage_record", "usage_report", "usage_status"], f"four tools listed {names}")
            for tool in tools.tools:
                check(field(tool, "output_schema") is not None and field(tool, "input_schema")["type"] == "object",
                      f"{tool.name} has input and output schemas")

            result = await session.call_tool("usage_check", {"metric": "tokens", "amount": 40000})
            structured = field(result, "structured_content")
            check(not field(result, "is_error") and structured["allowed"] is True and structured["remaining"] == 100000,
                  "usage_check allows 40000 tokens")

            result = await session.call_tool(
                "usage_record",
                {"metric": "tokens", "input": 1200, "output": 350, "model": "gpt-4o", "provider": "openai",
                 "conversation": "c-1", "key": "sdk-record-1"})
            structured = field(result, "structured_content")
            check(not field(result, "is_error") and structured["used"] == 1550, "usage_record records 1550 tokens")
            again = await session.call_tool(
                "usage_record",
                {"metric": "tokens", "input": 1200, "output": 350, "model": "gpt-4o", "provider": "openai",
                 "conversation": "c-1", "key": "sdk-record-1"})
            check(field(again, "structured_content")["used"] == 1550, "a retry with the same key counts once")
            text = json.loads(again.content[0].text)
            check(text["used"] == 1550, "the text content carries the same JSON")

            result = await session.call_tool("usage_record", {"metric": "requests", "amount": 2})
            check(field(result, "structured_content")["used"] == 2, "usage_record counts requests")

            result = await session.call_tool("usage_status", {})
            structured = field(result, "structured_content")
            check(structured["metrics"]["tokens"]["used"] == 1550 and structured["tier"] == "free",
                  "usage_status shows every metric")

            for grouping, group in (("day", None), ("model", "gpt-4o"), ("provider", "openai")):
                result = await session.call_tool("usage_report", {"metric": "tokens", "groupBy": grouping})
                rows = field(result, "structured_content")["rows"]
                check(len(rows) == 1 and rows[0]["total"] == 1550 and (group is None or rows[0]["group"] == group),
                      f"usage_report by {grouping}")

            # Bad arguments are tool errors the agent can read; the session goes on.
            for arguments, words in (
                ({"metric": "nope"}, "metric"),
                ({"metric": "tokens", "amount": -1}, "amount"),
                ({"metric": "requests", "colour": "red"}, "colour"),
            ):
                result = await session.call_tool("usage_record", arguments)
                message = result.content[0].text
                check(field(result, "is_error") and words in message, f"bad arguments {arguments} -> {message!r}")
            result = await session.call_tool(
                "usage_record", {"metric": "requests", "amount": 1000, "enforce": True})
            check(field(result, "is_error") and "Limit exceeded" in result.content[0].text,
                  "an enforced change past the limit is refused")

            resources = await session.list_resources()
            uris = [str(resource.uri) for resource in resources.resources]
            check("usage://metrics" in uris and "usage://metrics/requests" in uris, "resources listed")
            templates = await session.list_resource_templates()
            template = field(templates, "resource_templates")[0]
            check(str(field(template, "uri_template")) == "usage://metrics/{name}", "the metric template is listed")
            read = await session.read_resource("usage://metrics/requests")
            state = json.loads(read.contents[0].text)
            check(state["used"] == 2 and field(read.contents[0], "mime_type") == "application/json",
                  "usage://metrics/requests reads 2 (JSON)")
            snapshot = json.loads((await session.read_resource("usage://metrics")).contents[0].text)
            check(snapshot["metrics"]["tokens"]["used"] == 1550, "usage://metrics reads the snapshot")

            await session.subscribe_resource("usage://metrics/requests")
            # Another process changes the metric on the same state directory.
            subprocess.run(
                [BINARY, "call", "usage/increment", '{"metric":"requests","amount":3}', "--state", STATE],
                check=True, stdout=subprocess.DEVNULL)
            await asyncio.wait_for(updated.wait(), DEADLINE)
            check(updates[0] == "usage://metrics/requests", "notifications/resources/updated after another process")
            state = json.loads((await session.read_resource("usage://metrics/requests")).contents[0].text)
            check(state["used"] == 5, "the resource reads the other process's change")

            result = await session.call_tool("usage_check", {"metric": "requests", "amount": 96})
            check(field(result, "structured_content")["allowed"] is False, "usage_check refuses past the limit")
            await session.send_ping()
    print("MCP SDK OK", flush=True)


asyncio.run(main())
