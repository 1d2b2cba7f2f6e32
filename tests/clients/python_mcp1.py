"""The Python MCP SDK 1.x: `python_mcp1.py URL BUCKET`, bearer token in MCP_BEARER_TOKEN.

`streamablehttp_client` and `ClientSession` as most deployed Python clients use them (the
initialize handshake). Lists the tools, lists BUCKET with bucket_objects_list and prints what it
saw as one JSON line for tests/tests/e2e/clients.rs.
"""

import asyncio
import json
import os
import sys

from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client


async def main(url: str, bucket: str) -> dict:
    headers = {"Authorization": f"Bearer {os.environ['MCP_BEARER_TOKEN']}"}
    async with streamablehttp_client(url, headers=headers) as (read, write, _session_id):
        async with ClientSession(read, write) as session:
            initialized = await session.initialize()
            tools = await session.list_tools()
            listing = await session.call_tool("bucket_objects_list", {"bucket": bucket})
            return {
                "protocol_version": initialized.protocolVersion,
                "tools": [tool.name for tool in tools.tools],
                "is_error": listing.isError,
                "content": [block.model_dump(mode="json") for block in listing.content],
                "listing": listing.structuredContent,
            }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(*sys.argv[1:]))))
