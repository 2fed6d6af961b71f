#!/usr/bin/env python3
"""An MCP client for the end-to-end suite, on the official Python SDK (`mcp`).

Usage: agent_client.py URL TOKEN < calls.json

Connects to URL (Streamable HTTP) with `Authorization: Bearer TOKEN`, initializes,
lists the tools, then calls each `[name, arguments]` pair of the JSON list on stdin, and
prints one JSON report: the server's name, the tools (name, title, description, input
schema) and each call's result (is_error, structured content, text). A connection or
protocol failure prints `{"failed": "..."}` and exits 3.
"""

import asyncio
import json
import sys

from mcp import ClientSession
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client


async def run(url: str, token: str, calls: list) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    async with create_mcp_http_client(headers=headers) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                listed = await session.list_tools()
                results = []
                for name, arguments in calls:
                    result = await session.call_tool(name, arguments)
                    results.append(
                        {
                            "is_error": bool(getattr(result, "is_error", False)),
                            "structured": getattr(result, "structured_content", None),
                            "text": [
                                c.text
                                for c in getattr(result, "content", [])
                                if getattr(c, "type", "") == "text"
                            ],
                        }
                    )
                return {
                    "server": init.server_info.name,
                    "tools": [
                        {
                            "name": t.name,
                            "title": t.title,
                            "description": t.description,
                            "input_schema": t.input_schema,
                        }
                        for t in listed.tools
                    ],
                    "results": results,
                }


def main() -> int:
    url, token = sys.argv[1], sys.argv[2]
    calls = json.loads(sys.stdin.read() or "[]")
    try:
        report = asyncio.run(run(url, token, calls))
    except BaseException as e:  # noqa: BLE001 - the suite reads the reason
        reasons = []
        stack = [e]
        while stack:
            err = stack.pop()
            if isinstance(err, BaseExceptionGroup):
                stack.extend(err.exceptions)
            else:
                reasons.append(f"{type(err).__name__}: {err}")
        print(json.dumps({"failed": "; ".join(reasons)}))
        return 3
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
