"""The Python MCP SDK 2.x previewing an image: `python_preview.py URL S3_URI`, bearer token in
MCP_BEARER_TOKEN. Calls bucket_object_preview and prints, as one JSON line for
tests/tests/e2e/previews.rs, each content block's type and MIME type and, for images, the
width and height read from the PNG or JPEG header of the bytes received.
"""

import asyncio
import base64
import json
import os
import struct
import sys

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client


def dimensions(data: bytes):
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return struct.unpack(">II", data[16:24])
    if data[:2] == b"\xff\xd8":
        i = 2
        while i < len(data):
            marker, length = data[i + 1], struct.unpack(">H", data[i + 2 : i + 4])[0]
            if marker in (0xC0, 0xC1, 0xC2):
                height, width = struct.unpack(">HH", data[i + 5 : i + 9])
                return width, height
            i += 2 + length
    return None


async def main(url: str, s3_uri: str) -> dict:
    headers = {"Authorization": f"Bearer {os.environ['MCP_BEARER_TOKEN']}"}
    async with httpx2.AsyncClient(headers=headers) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            result = await client.call_tool("bucket_object_preview", {"s3_uri": s3_uri})
            blocks = []
            for block in result.content:
                mime_type = getattr(block, "mime_type", None) or getattr(block, "mimeType", None)
                seen = {"type": block.type, "mime_type": mime_type}
                if block.type == "image":
                    seen["size"] = dimensions(base64.b64decode(block.data))
                blocks.append(seen)
            return {"is_error": result.is_error, "blocks": blocks, "structured": result.structured_content}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(*sys.argv[1:]))))
