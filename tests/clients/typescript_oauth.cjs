// The TypeScript MCP SDK signing in by OAuth through the host's sign-in bridge:
// `node typescript_oauth.cjs MODE URL REDIRECT_URI OWN_BUCKET OTHER_BUCKET [CLIENT_ID_URL]`, the
// person's login and password in SIGN_IN_LOGIN and SIGN_IN_PASSWORD, the SDK found through
// NODE_PATH. Run by tests/tests/e2e/sign_in_clients.rs.
//
// MODE is `registration` (the SDK registers itself, RFC 7591), `metadata-document` (the client
// is named by the Client ID Metadata Document at CLIENT_ID_URL) or `refresh` (registration, then
// the same client is used again after its access token expired: the SDK must refresh by itself)
// or `step-up` (signs in at URL/readonly, which asks for quilt:read only, then calls
// bucket_objects_put on OWN_BUCKET at URL: the server's 403 scope challenge must make the SDK
// sign the person in again for more scope, after which the call succeeds).
//
// The SDK's OAuthClientProvider keeps everything in memory. When the SDK sends the person to the
// authorization URL, `redirectToAuthorization` plays the person in a browser over plain HTTP (a
// cookie jar, redirects followed by hand): the bridge's consent page (approve), the IdP's login
// form, until the redirect to REDIRECT_URI, whose code goes to `transport.finishAuth`. Then it
// reconnects, lists the tools and lists OWN_BUCKET and OTHER_BUCKET with bucket_objects_list, and
// prints what it saw as one JSON line: every HTTP request the SDK made (`requests`), the tokens it
// was given, the sign-ins the person did, and the results.

const { Client } = require("@modelcontextprotocol/sdk/client/index.js");
const { StreamableHTTPClientTransport } = require("@modelcontextprotocol/sdk/client/streamableHttp.js");
const { UnauthorizedError } = require("@modelcontextprotocol/sdk/client/auth.js");
const { randomBytes } = require("node:crypto");

/// A sign-in is about ten redirects; more means a loop.
const MAX_STEPS = 20;
/// The longest access token lifetime the refresh mode waits out.
const MAX_WAIT_SECS = 30;

/// Every HTTP request the SDK made (MCP and OAuth alike), with what the test needs to know, each
/// tagged with the phase of the run it belongs to.
const requests = [];
let phase = "sign-in";

async function recordingFetch(url, init = {}) {
  const entry = { phase, method: init.method ?? "GET", url: String(url) };
  if (init.body instanceof URLSearchParams) {
    entry.grant_type = init.body.get("grant_type") ?? undefined;
  } else if (typeof init.body === "string") {
    try {
      entry.rpc = JSON.parse(init.body).method;
    } catch {
      // Not JSON-RPC (a registration is JSON too, without a method): nothing to note.
    }
  }
  const response = await fetch(url, init);
  entry.status = response.status;
  requests.push(entry);
  return response;
}

/// An OAuthClientProvider that keeps everything in memory and signs the person in itself.
class MemoryProvider {
  constructor({ redirectUri, clientMetadataUrl, clientInformation, person, withoutRefresh }) {
    // The SDK (1.x) answers a scope challenge by refreshing first when it has a refresh token,
    // and a refresh cannot widen scopes (RFC 6749 §6), so it gives up (typescript-sdk#2255):
    // step-up then only works when the application keeps no refresh token.
    this._withoutRefresh = Boolean(withoutRefresh);
    this._redirectUri = redirectUri;
    if (clientMetadataUrl) this.clientMetadataUrl = clientMetadataUrl;
    this._clientInformation = clientInformation;
    this._person = person;
    this._tokens = undefined;
    this._codeVerifier = undefined;
    this._state = undefined;
    this.savedTokens = [];
    this.authorizationUrls = [];
    this.code = undefined;
  }

  get redirectUrl() {
    return this._redirectUri;
  }

  get clientMetadata() {
    return {
      client_name: "TypeScript SDK test client",
      redirect_uris: [this._redirectUri],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  }

  state() {
    this._state = randomBytes(16).toString("base64url");
    return this._state;
  }

  clientInformation() {
    return this._clientInformation;
  }

  saveClientInformation(information) {
    this._clientInformation = information;
  }

  tokens() {
    if (this._tokens && this._withoutRefresh) return { ...this._tokens, refresh_token: undefined };
    return this._tokens;
  }

  saveTokens(tokens) {
    this._tokens = tokens;
    this.savedTokens.push(tokens);
  }

  saveCodeVerifier(verifier) {
    this._codeVerifier = verifier;
  }

  codeVerifier() {
    return this._codeVerifier;
  }

  async redirectToAuthorization(authorizationUrl) {
    this.authorizationUrls.push(authorizationUrl.href);
    if (!this._person) return; // only noting where the SDK would send the person
    const redirect = await this._person.signIn(authorizationUrl, this._redirectUri);
    const params = redirect.searchParams;
    if (params.get("error")) {
      throw new Error(`the bridge answered ${params.get("error")}: ${params.get("error_description")}`);
    }
    if (params.get("state") !== this._state) {
      throw new Error(`state ${params.get("state")} came back for ${this._state}`);
    }
    this.code = params.get("code");
    this._person.redirects.push({ iss: params.get("iss"), has_code: Boolean(this.code) });
  }
}

/// Cookies by host (browsers ignore the port) and path, as a browser keeps them.
class CookieJar {
  constructor() {
    this._cookies = [];
  }

  store(url, response) {
    const { hostname, pathname } = new URL(url);
    for (const header of response.headers.getSetCookie()) {
      const [pair, ...attributes] = header.split(";").map((part) => part.trim());
      const at = pair.indexOf("=");
      const name = pair.slice(0, at);
      const value = pair.slice(at + 1);
      let path = pathname.slice(0, pathname.lastIndexOf("/")) || "/";
      let expired = false;
      for (const attribute of attributes) {
        const [key, ...rest] = attribute.split("=");
        const attributeValue = rest.join("=");
        if (key.toLowerCase() === "path" && attributeValue.startsWith("/")) path = attributeValue;
        if (key.toLowerCase() === "max-age" && Number(attributeValue) <= 0) expired = true;
        if (key.toLowerCase() === "expires" && Date.parse(attributeValue) < Date.now()) expired = true;
      }
      this._cookies = this._cookies.filter((c) => !(c.host === hostname && c.name === name && c.path === path));
      if (!expired) this._cookies.push({ host: hostname, name, value, path });
    }
  }

  header(url) {
    const { hostname, pathname } = new URL(url);
    return this._cookies
      .filter((c) => c.host === hostname && (pathname === c.path || pathname.startsWith(c.path.endsWith("/") ? c.path : `${c.path}/`)))
      .map((c) => `${c.name}=${c.value}`)
      .join("; ");
  }
}

/// A person with a browser: approves the consent page and fills in the IdP's login form.
class Person {
  constructor(login, password) {
    this._login = login;
    this._password = password;
    this.consentPages = [];
    this.redirects = [];
  }

  /// Follows the sign-in from `authorizationUrl` until a redirect to `redirectUri`, which it
  /// returns unfetched (nothing listens there).
  async signIn(authorizationUrl, redirectUri) {
    const jar = new CookieJar();
    const target = new URL(redirectUri);
    let request = { url: authorizationUrl.href, method: "GET" };
    let loggedIn = false;
    for (let step = 0; step < MAX_STEPS; step++) {
      const headers = {};
      const cookie = jar.header(request.url);
      if (cookie) headers.cookie = cookie;
      if (request.form) headers["content-type"] = "application/x-www-form-urlencoded";
      const response = await fetch(request.url, {
        method: request.method,
        headers,
        body: request.form ? new URLSearchParams(request.form).toString() : undefined,
        redirect: "manual",
      });
      jar.store(request.url, response);
      if (response.status >= 300 && response.status < 400) {
        const next = new URL(response.headers.get("location"), request.url);
        if (next.origin === target.origin && next.pathname === target.pathname) return next;
        request = { url: next.href, method: "GET" };
        continue;
      }
      const html = await response.text();
      if (response.status !== 200) throw new Error(`${response.status} at ${request.url}: ${html}`);
      const form = firstForm(html);
      if (!form) throw new Error(`a page without a form at ${request.url}: ${html}`);
      const action = new URL(form.action, request.url).href;
      if (form.hidden.request !== undefined) {
        // The bridge's consent page: what it says the client is, then "Allow and sign in".
        this.consentPages.push(text(html.match(/<h1>(.*?)<\/h1>/s)?.[1] ?? "") + " " + text(html.match(/<p>(.*?)<\/p>/s)?.[1] ?? ""));
        request = { url: action, method: "POST", form: { ...form.hidden, decision: "approve" } };
      } else if (form.inputs.includes("login") && !loggedIn) {
        loggedIn = true;
        request = { url: action, method: "POST", form: { ...form.hidden, login: this._login, password: this._password } };
      } else {
        throw new Error(`an unexpected page at ${request.url}: ${html}`);
      }
    }
    throw new Error(`more than ${MAX_STEPS} steps signing in at ${authorizationUrl}`);
  }
}

/// The page's first form: its action, hidden fields and the names of its other inputs.
function firstForm(html) {
  const start = html.indexOf("<form");
  if (start < 0) return undefined;
  const end = html.indexOf("</form>", start);
  const form = html.slice(start, end < 0 ? html.length : end);
  const attribute = (tag, name) => {
    const match = tag.match(new RegExp(`\\s${name}="([^"]*)"`));
    return match ? decodeEntities(match[1]) : undefined;
  };
  const opening = form.slice(0, form.indexOf(">") + 1);
  const hidden = {};
  const inputs = [];
  for (const [input] of form.matchAll(/<input\b[^>]*>/g)) {
    const name = attribute(input, "name");
    if (name === undefined) continue;
    if (attribute(input, "type") === "hidden") hidden[name] = attribute(input, "value") ?? "";
    else inputs.push(name);
  }
  return { action: attribute(opening, "action") ?? "", hidden, inputs };
}

function decodeEntities(value) {
  return value.replace(/&(#x[0-9a-f]+|#[0-9]+|amp|quot|lt|gt|apos);/gi, (entity, body) => {
    const named = { amp: "&", quot: '"', lt: "<", gt: ">", apos: "'" }[body.toLowerCase()];
    if (named) return named;
    const code = body[1] === "x" || body[1] === "X" ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
    return String.fromCodePoint(code);
  });
}

/// HTML as the text a person reads.
function text(html) {
  return decodeEntities(html.replace(/<[^>]*>/g, "")).replace(/\s+/g, " ").trim();
}

/// A connection: the SDK's client on a transport with the provider.
async function connect(url, provider) {
  const transport = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider, fetch: recordingFetch });
  const client = new Client({ name: "quilt-mcp-tests-typescript-oauth", version: "1.0.0" });
  await client.connect(transport);
  return { client, transport };
}

/// Connects; when the server wants a sign-in, the SDK sends the person through it, the code is
/// exchanged (`finishAuth`) and the client connects again, as an application does after the
/// browser comes back.
async function signedIn(url, provider) {
  try {
    return await connect(url, provider);
  } catch (error) {
    if (!(error instanceof UnauthorizedError) || !provider.code) throw error;
  }
  const transport = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider, fetch: recordingFetch });
  await transport.finishAuth(provider.code);
  return connect(url, provider);
}

async function list(client, bucket) {
  const result = await client.callTool({ name: "bucket_objects_list", arguments: { bucket } });
  return { is_error: result.isError ?? false, content: result.content, listing: result.structuredContent ?? null };
}

/// Signs in at URL/readonly (a read-only token), then calls a writer at URL: the 403 scope
/// challenge, a second sign-in for the wider scope, `finishAuth` and the retried call.
async function stepUp(url, redirectUri, ownBucket, person) {
  const provider = new MemoryProvider({ redirectUri, person, withoutRefresh: true });
  const readOnly = await signedIn(`${url}/readonly`, provider);
  const readOnlyTools = (await readOnly.client.listTools()).tools.map((tool) => tool.name);
  await readOnly.client.close();
  phase = "step-up";
  const { client, transport } = await connect(url, provider);
  const toolsBefore = (await client.listTools()).tools.map((tool) => tool.name);
  const put = { name: "bucket_objects_put", arguments: { bucket: ownBucket, items: [{ key: "step-up.txt", text: "written after step-up" }] } };
  let challenged = false;
  try {
    await client.callTool(put);
  } catch (error) {
    if (!(error instanceof UnauthorizedError) || !provider.code) throw error;
    challenged = true;
    await transport.finishAuth(provider.code);
  }
  const result = await client.callTool(put);
  const toolsAfter = (await client.listTools()).tools.map((tool) => tool.name);
  await client.close();
  return {
    read_only_tools: readOnlyTools,
    tools_before: toolsBefore,
    tools_after: toolsAfter,
    challenged,
    put: { is_error: result.isError ?? false, content: result.content },
    tokens: provider.savedTokens.map((tokens) => ({ scope: tokens.scope })),
    authorization_scopes: provider.authorizationUrls.map((at) => new URL(at).searchParams.get("scope")),
    requests,
  };
}

async function main([mode, url, redirectUri, ownBucket, otherBucket, clientIdUrl]) {
  if (mode === "step-up") {
    const person = new Person(process.env.SIGN_IN_LOGIN, process.env.SIGN_IN_PASSWORD);
    console.log(JSON.stringify({ mode, ...(await stepUp(url, redirectUri, ownBucket, person)) }));
    return;
  }
  const person = new Person(process.env.SIGN_IN_LOGIN, process.env.SIGN_IN_PASSWORD);
  const report = { mode };
  let provider;
  if (mode === "metadata-document") {
    // The SDK's own way: `clientMetadataUrl`, which it uses instead of registering when the
    // server's metadata says client_id_metadata_document_supported. It takes https URLs only,
    // and the bridge fetches loopback documents over http only (its https fetch trusts public
    // roots), so first the https spelling shows which client id the SDK would send (nobody
    // signs in: the authorization URL is only noted), then the http one is tried.
    phase = "https-probe";
    const https = new URL(clientIdUrl);
    https.protocol = "https:";
    const probe = new MemoryProvider({ redirectUri, clientMetadataUrl: https.href, person: undefined });
    await connect(url, probe).then(
      () => {
        throw new Error("connected without signing in");
      },
      (error) => {
        if (!(error instanceof UnauthorizedError)) throw error;
      },
    );
    report.https_probe = {
      client_id: probe.clientInformation()?.client_id,
      authorization_client_id: probe.authorizationUrls.map((at) => new URL(at).searchParams.get("client_id")),
    };
    phase = "http-attempt";
    provider = new MemoryProvider({ redirectUri, clientMetadataUrl: clientIdUrl, person });
    try {
      report.client = await signedIn(url, provider);
      report.metadata_url_used_by_sdk = true;
    } catch (error) {
      report.metadata_url_used_by_sdk = false;
      report.sdk_refused_metadata_url = String(error.message ?? error);
      // What the SDK stores when it takes that branch itself ({client_id: clientMetadataUrl}),
      // given as the client's information: no registration, the URL is the client id.
      provider = new MemoryProvider({ redirectUri, clientInformation: { client_id: clientIdUrl }, person });
    }
    phase = "sign-in";
  } else if (mode === "registration" || mode === "refresh") {
    provider = new MemoryProvider({ redirectUri, person });
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
  const { client, transport } = report.client ?? (await signedIn(url, provider));
  delete report.client;
  const tools = await client.listTools();
  const own = await list(client, ownBucket);
  const other = await list(client, otherBucket);
  let afterExpiry;
  if (mode === "refresh") {
    phase = "after-expiry";
    // Wait out the access token (the test gives it seconds; a long one is not waited for, and
    // the test then finds no refresh), then use the same client again.
    const latest = provider.savedTokens[provider.savedTokens.length - 1];
    const lifetime = Math.min(Number(latest.expires_in ?? 5), MAX_WAIT_SECS);
    await new Promise((resolve) => setTimeout(resolve, (lifetime + 1.5) * 1000));
    afterExpiry = await list(client, ownBucket);
  }
  Object.assign(report, {
    protocol_version: transport.protocolVersion,
    client_id: provider.clientInformation()?.client_id,
    tools: tools.tools.map((tool) => tool.name),
    own,
    other,
    after_expiry: afterExpiry,
    tokens: provider.savedTokens.map((tokens) => ({
      access_token: tokens.access_token,
      refresh_token: tokens.refresh_token,
      expires_in: tokens.expires_in,
      scope: tokens.scope,
    })),
    authorization_urls: provider.authorizationUrls,
    consent_pages: person.consentPages,
    redirects: person.redirects,
    requests,
  });
  await client.close();
  console.log(JSON.stringify(report));
}

main(process.argv.slice(2)).catch((error) => {
  console.error(error);
  console.error(JSON.stringify({ requests }));
  process.exit(1);
});
