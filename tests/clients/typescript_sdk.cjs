// The TypeScript MCP SDK: `node typescript_sdk.cjs URL BUCKET`, bearer token in MCP_BEARER_TOKEN,
// the SDK found through NODE_PATH (CommonJS, because ES modules ignore NODE_PATH). Lists the
// tools, lists BUCKET with bucket_objects_list and prints what it saw as one JSON line for
// tests/tests/e2e/clients.rs.

const { Client } = require("@modelcontextprotocol/sdk/client/index.js");
const { StreamableHTTPClientTransport } = require("@modelcontextprotocol/sdk/client/streamableHttp.js");

async function main([url, bucket]) {
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${process.env.MCP_BEARER_TOKEN}` } },
  });
  const client = new Client({ name: "quilt-mcp-tests-typescript-sdk", version: "1.0.0" });
  await client.connect(transport);
  const tools = await client.listTools();
  const listing = await client.callTool({ name: "bucket_objects_list", arguments: { bucket } });
  console.log(
    JSON.stringify({
      protocol_version: transport.protocolVersion,
      tools: tools.tools.map((tool) => tool.name),
      is_error: listing.isError ?? false,
      content: listing.content,
      listing: listing.structuredContent,
    }),
  );
  await client.close();
}

main(process.argv.slice(2)).catch((error) => {
  console.error(error);
  process.exit(1);
});
