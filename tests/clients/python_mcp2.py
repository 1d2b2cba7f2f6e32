"""The Python MCP SDK 2.x: `python_mcp2.py URL BUCKET auto|legacy`, bearer token in MCP_BEARER_TOKEN.

`auto` is the SDK's default (server/discover, the 2026-07-28 era, falling back to initialize);
`legacy` forces the initialize handshake. Lists the tools, lists BUCKET with bucket_objects_list
and prints what it saw as one JSON line for tests/tests/e2e/clients.rs.
"""

import asyncio
import json
import os
import sys

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client


async def main(url: str, bucket: str, mode: str) -> dict:
    # The SDK takes headers only through the HTTP client it is given.
    headers = {"Authorization": f"Bearer {os.environ['MCP_BEARER_TOKEN']}"}
    async with httpx2.AsyncClient(headers=headers) as http:
        transport = streamable_http_client(url, http_client=http)
        async with Client(transport, mode=mode) as client:
            tools = await client.list_tools()
            listing = await client.call_tool("bucket_objects_list", {"bucket": bucket})
            return {
                "protocol_version": client.protocol_version,
                "tools": [tool.name for tool in tools.tools],
                "is_error": listing.is_error,
                "content": [block.model_dump(mode="json") for block in listing.content],
                "listing": listing.structured_content,
            }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(*sys.argv[1:]))))
