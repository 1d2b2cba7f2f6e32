// A local OpenID provider for the tests and the dev stack: panva's oidc-provider (OpenID-certified),
// with a login form that checks passwords, consent pre-approved (as a corporate IdP has it for an
// internal app), PKCE S256 required for every client, and JWT access tokens for one audience.
//
// Run: NODE_PATH=<oidc-provider's node_modules> node local-idp.mjs [config.json]
// The configuration is one JSON document, from the file named by the first argument or else from
// the LOCAL_IDP_CONFIG variable (schema: tests/src/local_idp.rs, LocalIdpConfig). Nothing is
// persisted: keys, sessions and tokens live in this process's memory.
//
// Once listening it prints exactly one line to stdout, `listening on http://127.0.0.1:PORT`, and
// then logs each request briefly to stderr.

import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';

// ESM `import` ignores NODE_PATH, and oidc-provider is installed outside this tree (the Makefile's
// tools directory). A CommonJS resolver does honour NODE_PATH, so resolve the package's entry file
// with one and import that file by its URL.
const resolveFromNodePath = createRequire(import.meta.url);
const { default: Provider, errors } = await import(
  pathToFileURL(resolveFromNodePath.resolve('oidc-provider')).href
);
// jose, the JOSE library oidc-provider itself uses, for the token exchange below.
const jose = await import(
  pathToFileURL(createRequire(resolveFromNodePath.resolve('oidc-provider')).resolve('jose')).href
);

function fail(message) {
  process.stderr.write(`local-idp: ${message}\n`);
  process.exit(1);
}

function readConfig() {
  const text = process.argv[2]
    ? fs.readFileSync(process.argv[2], 'utf8')
    : process.env.LOCAL_IDP_CONFIG;
  if (!text) fail('no configuration: pass a JSON file path or set LOCAL_IDP_CONFIG');
  let config;
  try {
    config = JSON.parse(text);
  } catch (error) {
    fail(`the configuration is not JSON: ${error.message}`);
  }
  const isString = (value) => typeof value === 'string' && value.length > 0;
  if (!Array.isArray(config.clients) || !Array.isArray(config.users)) {
    fail('the configuration needs `clients` and `users` arrays');
  }
  for (const client of config.clients) {
    if (!isString(client.client_id) || !isString(client.client_secret)
      || !Array.isArray(client.redirect_uris) || !client.redirect_uris.every(isString)) {
      fail('each client needs client_id, client_secret and redirect_uris');
    }
  }
  for (const user of config.users) {
    if (![user.login, user.password, user.sub, user.email, user.name].every(isString)) {
      fail('each user needs login, password, sub, email and name');
    }
    if (user.groups !== undefined
      && !(Array.isArray(user.groups) && user.groups.every((group) => typeof group === 'string'))) {
      fail(`user ${user.login}: groups must be an array of strings`);
    }
  }
  if (!isString(config.access_token_audience)) fail('access_token_audience must be a string');
  return config;
}

const config = readConfig();

// Accounts by login (for the form) and by subject (for oidc-provider's findAccount).
const usersByLogin = new Map(config.users.map((user) => [user.login, user]));
const usersBySub = new Map(config.users.map((user) => [user.sub, user]));

// Compares digests, so neither the length nor the content of the password leaks through timing.
function passwordMatches(user, password) {
  const digest = (text) => crypto.createHash('sha256').update(text, 'utf8').digest();
  return crypto.timingSafeEqual(digest(user.password), digest(password));
}

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
// Audiences a client may exchange one of this provider's access tokens for (RFC 8693).
const exchangeAudiences = config.exchange_audiences ?? [];

let keysMemo;
function signingKeys() {
  keysMemo ??= generatedOrConfiguredKeys();
  return keysMemo;
}

function generatedOrConfiguredKeys() {
  if (config.jwks) return config.jwks;
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { keys: [{ ...jwk, kid: crypto.randomBytes(8).toString('hex'), alg: 'RS256', use: 'sig' }] };
}

// Resource indicators must be absolute URIs (RFC 8707). An audience that is one (the MCP server's
// URL, which MCP clients send as `resource`) is its own indicator; any other string is the
// audience of this fixed indicator.
const audience = config.access_token_audience;
const resourceIndicator = URL.parse(audience) ? audience : 'urn:local-idp:access-token-audience';
// The access token's `scope` carries what the client asked for and was granted, as Okta's and
// Entra's `scp` do.
const resourceScopes = 'openid email profile offline_access';

async function findAccount(_ctx, sub) {
  const user = usersBySub.get(sub);
  if (!user) return undefined;
  return {
    accountId: sub,
    async claims() {
      return {
        sub,
        email: user.email,
        // The directory's addresses are the company's own.
        email_verified: true,
        name: user.name,
        ...(user.groups ? { groups: user.groups } : {}),
      };
    },
  };
}

// Consent is pre-approved: the grant is created, or topped up, with everything this request asks
// for (scopes, claims, the resource's scopes), so oidc-provider never prompts for consent.
async function grantEverythingRequested(ctx, grant) {
  const { oidc } = ctx;
  grant ||= new oidc.provider.Grant({ accountId: oidc.session.accountId, clientId: oidc.client.clientId });
  if (oidc.params.scope) grant.addOIDCScope(oidc.params.scope);
  if (oidc.requestParamClaims.size) grant.addOIDCClaims([...oidc.requestParamClaims]);
  for (const indicator of Object.keys(oidc.resourceServers)) {
    grant.addResourceScope(indicator, resourceScopes);
  }
  await grant.save();
  return grant;
}

function ttlConfig() {
  const ttl = {};
  for (const name of ['AccessToken', 'IdToken', 'RefreshToken', 'AuthorizationCode']) {
    const value = config.ttl?.[name];
    if (value === undefined || value === null) continue;
    if (!Number.isInteger(value) || value <= 0) fail(`ttl.${name} must be a positive integer`);
    ttl[name] = value;
  }
  return ttl;
}

function providerConfiguration() {
  return {
    // The authorization code flow only: no implicit or hybrid responses.
    responseTypes: ['code'],
    clients: config.clients.map((client) => ({
      client_id: client.client_id,
      client_secret: client.client_secret,
      redirect_uris: client.redirect_uris,
      response_types: ['code'],
      grant_types: ['authorization_code', 'refresh_token',
        ...(exchangeAudiences.length ? [TOKEN_EXCHANGE] : [])],
      // oidc-provider accepts client_secret_post too for a client registered with either.
      token_endpoint_auth_method: 'client_secret_basic',
    })),
    jwks: signingKeys(),
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    findAccount,
    claims: {
      // groups ride on `openid`, so every ID token of a user who has groups carries them.
      openid: ['sub', 'groups'],
      email: ['email', 'email_verified'],
      profile: ['name'],
    },
    // Scope-derived claims go into the ID token even though an access token is issued too.
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    features: {
      // Its development login accepts any password; this file serves its own form instead.
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // A client that names no resource gets the configured audience.
        defaultResource: async (_ctx, _client, oneOf) => oneOf ?? resourceIndicator,
        // Without this, a request with scope openid would get an opaque token for userinfo.
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, indicator) => {
          if (indicator !== resourceIndicator) throw new errors.InvalidTarget();
          return {
            scope: resourceScopes,
            audience,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    // Every client allowed the refresh_token grant gets one, whether or not it asked for
    // offline_access: oidc-provider 9 drops offline_access from any authorization request without
    // prompt=consent (OpenID Connect Core 11), so its default would issue none to a client that
    // asks for offline_access the usual way.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    // Tokens outlive the IdP's browser session (whose cookie a test's client drops at once).
    expiresWithSession: async () => false,
    loadExistingGrant: async (ctx) => {
      const grantId = ctx.oidc.result?.consent?.grantId
        || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      const existing = grantId ? await ctx.oidc.provider.Grant.find(grantId) : undefined;
      return grantEverythingRequested(ctx, existing);
    },
    interactions: { url: async (_ctx, interaction) => `/interaction/${interaction.uid}` },
    ttl: ttlConfig(),
  };
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// The login form. It echoes only the login name (escaped), never the password.
function loginPage(uid, { login = '', error } = {}) {
  const action = `/interaction/${encodeURIComponent(uid)}/login`;
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign in</title></head>
<body>
<h1>Sign in</h1>
${error ? `<p id="error" role="alert">${escapeHtml(error)}</p>\n` : ''}<form method="post" action="${escapeHtml(action)}" autocomplete="off">
<label>Login <input name="login" value="${escapeHtml(login)}" autofocus required></label>
<label>Password <input type="password" name="password" required></label>
<button type="submit">Sign in</button>
</form>
</body>
</html>
`;
}

function send(res, status, body, contentType = 'text/html; charset=utf-8') {
  res.statusCode = status;
  res.setHeader('Content-Type', contentType);
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'");
  res.end(body);
}

const MAX_FORM_BYTES = 16 * 1024;

async function readForm(req) {
  const type = (req.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') return undefined;
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) return undefined;
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// GET /interaction/:uid shows the form (or, for a consent prompt, grants and moves on);
// POST /interaction/:uid/login checks the password.
async function interaction(provider, req, res, uid, action) {
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (error) {
    return send(res, 400, `<!DOCTYPE html><p>${escapeHtml(error.message)}: start the sign-in again.</p>\n`);
  }
  if (details.uid !== uid) {
    return send(res, 400, '<!DOCTYPE html><p>This sign-in page belongs to another sign-in: start again.</p>\n');
  }
  const { prompt } = details;

  if (prompt.name === 'consent') {
    // Only reached when the client asks for prompt=consent: approve what is asked.
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
    if (details.prompt.details.missingOIDCScope) grant.addOIDCScope(details.prompt.details.missingOIDCScope.join(' '));
    if (details.prompt.details.missingOIDCClaims) grant.addOIDCClaims(details.prompt.details.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(details.prompt.details.missingResourceScopes || {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }
  if (prompt.name !== 'login') {
    return send(res, 400, `<!DOCTYPE html><p>Unsupported prompt ${escapeHtml(prompt.name)}.</p>\n`);
  }

  if (action === undefined && req.method === 'GET') {
    return send(res, 200, loginPage(uid, { login: details.params.login_hint || '' }));
  }
  if (action === 'login' && req.method === 'POST') {
    const form = await readForm(req);
    if (!form) return send(res, 400, '<!DOCTYPE html><p>Expected a form of at most 16 KiB.</p>\n');
    const login = form.get('login') ?? '';
    const password = form.get('password') ?? '';
    const user = usersByLogin.get(login);
    if (!user || !passwordMatches(user, password)) {
      process.stderr.write('local-idp: login refused: wrong login or password\n');
      return send(res, 200, loginPage(uid, { login, error: 'Wrong login or password.' }));
    }
    return provider.interactionFinished(
      req,
      res,
      { login: { accountId: user.sub } },
      { mergeWithLastSubmission: false },
    );
  }
  res.setHeader('Allow', action === 'login' ? 'POST' : 'GET');
  return send(res, 405, '<!DOCTYPE html><p>Method not allowed.</p>\n');
}

// RFC 8693 token exchange: a client trades an access token this provider issued (for another
// audience, e.g. the MCP server) for one whose `aud` is a configured audience (the registry),
// signed with the same key, so whoever trusts this provider's JWKS accepts it.
function registerTokenExchange(provider) {
  const [signing] = signingKeys().keys;
  const publicJwk = { kty: signing.kty, n: signing.n, e: signing.e, kid: signing.kid, alg: 'RS256' };
  const verifyKeys = jose.createLocalJWKSet({ keys: [publicJwk] });
  const ttl = config.ttl?.AccessToken ?? 600;
  provider.registerGrantType(TOKEN_EXCHANGE, async (ctx) => {
    const { subject_token: subjectToken, subject_token_type: subjectType, audience } = ctx.oidc.params;
    if (subjectType !== ACCESS_TOKEN_TYPE) {
      throw new errors.InvalidRequest(`subject_token_type must be ${ACCESS_TOKEN_TYPE}`);
    }
    if (!exchangeAudiences.includes(audience)) {
      throw new errors.InvalidTarget('this audience cannot be exchanged for');
    }
    let subject;
    try {
      ({ payload: subject } = await jose.jwtVerify(subjectToken, verifyKeys, { issuer: ctx.oidc.issuer }));
    } catch {
      throw new errors.InvalidGrant('subject_token is not a valid access token of this provider');
    }
    const key = await jose.importJWK(signing, 'RS256');
    const now = Math.floor(Date.now() / 1000);
    const token = await new jose.SignJWT({
      sub: subject.sub,
      scope: subject.scope,
      client_id: ctx.oidc.client.clientId,
      act: { sub: ctx.oidc.client.clientId },
    })
      .setProtectedHeader({ alg: 'RS256', kid: signing.kid, typ: 'at+jwt' })
      .setIssuer(ctx.oidc.issuer)
      .setAudience(audience)
      .setIssuedAt(now)
      .setExpirationTime(Math.min(now + ttl, subject.exp ?? now + ttl))
      .setJti(crypto.randomBytes(16).toString('base64url'))
      .sign(key);
    ctx.body = {
      access_token: token,
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: 'Bearer',
      expires_in: Math.min(ttl, (subject.exp ?? now + ttl) - now),
    };
  }, ['subject_token', 'subject_token_type', 'audience', 'requested_token_type']);
}

const INTERACTION_PATH = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login))?$/;

const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(Number(config.port ?? 0), '127.0.0.1', resolve);
});
const { port } = server.address();
const issuer = `http://${config.issuer_host || '127.0.0.1'}:${port}`;

let provider;
try {
  provider = new Provider(issuer, providerConfiguration());
} catch (error) {
  fail(`oidc-provider refused the configuration: ${error.message}`);
}
for (const event of ['server_error', 'authorization.error', 'grant.error', 'revocation.error']) {
  provider.on(event, (_ctx, error) => {
    process.stderr.write(`local-idp: ${event}: ${error.message}${error.error_description ? ` (${error.error_description})` : ''}\n`);
  });
}
if (exchangeAudiences.length) registerTokenExchange(provider);
const providerCallback = provider.callback();

server.on('request', (req, res) => {
  const started = Date.now();
  const path = (req.url || '/').split('?')[0];
  res.on('finish', () => {
    process.stderr.write(`local-idp: ${req.method} ${path} ${res.statusCode} ${Date.now() - started}ms\n`);
  });
  const match = INTERACTION_PATH.exec(path);
  if (!match) return providerCallback(req, res);
  interaction(provider, req, res, match[1], match[2]).catch((error) => {
    process.stderr.write(`local-idp: interaction failed: ${error.stack || error}\n`);
    if (!res.headersSent) send(res, 500, '<!DOCTYPE html><p>Sign-in failed.</p>\n');
    else res.destroy();
  });
});

process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
process.stdout.write(`listening on http://127.0.0.1:${port}\n`);
