// A person signing in for an MCP client with a real browser: Debian's chromium, headless, driven
// by playwright-core. It opens the sign-in bridge's /oauth/authorize URL, reads the consent page,
// clicks 'Allow and sign in', fills the IdP's login form and submits it, and catches the
// browser's navigation to the client's redirect URI (page.route answers it, so nothing has to
// listen there).
//
// Run: node browser_sign_in.mjs '{"start": URL, "login": L, "password": P, "redirect_prefix": R}'
// with QUILT_MCP_PLAYWRIGHT (the node_modules holding playwright-core) and QUILT_MCP_CHROMIUM
// (the browser binary) set, as the Makefile does.
//
// On success it prints exactly one JSON line to stdout and exits 0:
//   {"consent_text", "client_name", "redirect_host", "consent_images", "consent_scripts",
//    "dialogs", "redirect"}
// where consent_text is the consent page's visible text, client_name and redirect_host the two
// bold names on it, consent_images and consent_scripts how many <img> and <script> elements its
// DOM holds, dialogs every alert/confirm/prompt any page opened, and redirect the full URL the
// browser was sent to (the client's redirect URI with code, state and iss). On any failure it
// prints the step, the error, and the current page's URL and text to stderr and exits non-zero.

import { createRequire } from 'node:module';
import * as path from 'node:path';

// Each step waits at most this long; a whole sign-in takes about a second.
const STEP_TIMEOUT_MS = 20_000;

function fail(message) {
  process.stderr.write(`browser-sign-in: ${message}\n`);
  process.exit(2);
}

function env(name) {
  const value = process.env[name];
  if (!value) fail(`${name} is not set: run the tests with make, which sets it`);
  return value;
}

// playwright-core is installed outside this tree (the Makefile's tools directory): resolve it as
// a module required from a file inside that node_modules directory.
const requireFromTools = createRequire(path.join(env('QUILT_MCP_PLAYWRIGHT'), 'resolve-from-here.cjs'));
const { chromium } = requireFromTools('playwright-core');

let args;
try {
  args = JSON.parse(process.argv[2] ?? '');
} catch (error) {
  fail(`the argument is not JSON: ${error.message}`);
}
for (const name of ['start', 'login', 'password', 'redirect_prefix']) {
  if (typeof args[name] !== 'string' || args[name] === '') fail(`the argument needs a string \`${name}\``);
}

// Run as root (as here), chromium refuses to start without --no-sandbox.
const launchArgs = process.getuid?.() === 0 ? ['--no-sandbox'] : [];
const browser = await chromium.launch({
  executablePath: env('QUILT_MCP_CHROMIUM'),
  headless: true,
  args: [...launchArgs, '--disable-dev-shm-usage'],
  timeout: STEP_TIMEOUT_MS,
});

let step = 'starting';
let page;
const dialogs = [];
try {
  const context = await browser.newContext();
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  context.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);

  // The client's redirect URI: answered here, so its URL (with the code) is recorded and
  // nothing needs to listen at it.
  let redirected;
  const redirect = new Promise((resolve) => { redirected = resolve; });
  await context.route((url) => url.href.startsWith(args.redirect_prefix), async (route) => {
    redirected(route.request().url());
    await route.fulfill({ status: 200, contentType: 'text/plain', body: 'The client got its code.' });
  });

  page = await context.newPage();
  // A dialog means a page ran script it should not have; recorded and dismissed.
  page.on('dialog', async (dialog) => {
    dialogs.push({ type: dialog.type(), message: dialog.message() });
    await dialog.dismiss().catch(() => {});
  });

  step = 'opening the consent page';
  const response = await page.goto(args.start);
  if (!response || response.status() !== 200) {
    throw new Error(`the authorize URL answered ${response?.status()}`);
  }
  const approve = page.getByRole('button', { name: 'Allow and sign in' });
  await approve.waitFor();

  step = 'reading the consent page';
  const consentText = await page.locator('body').innerText();
  const bold = page.locator('p strong');
  const clientName = await bold.nth(0).innerText();
  const redirectHost = await bold.nth(1).innerText();
  const consentImages = await page.locator('img').count();
  const consentScripts = await page.locator('script').count();
  process.stderr.write(`browser-sign-in: the consent page names ${JSON.stringify(clientName)}, redirecting to ${JSON.stringify(redirectHost)}\n`);

  step = 'approving';
  await approve.click();
  await page.waitForURL((url) => url.pathname.startsWith('/interaction/'));

  step = 'signing in at the IdP';
  await page.locator('input[name="login"]').fill(args.login);
  await page.locator('input[name="password"]').fill(args.password);
  await page.getByRole('button', { name: 'Sign in' }).click();

  step = 'waiting for the redirect to the client';
  // The IdP's refusal shows up as its form again, with an alert: no need to wait for the
  // timeout to learn that.
  const refused = page.locator('#error').waitFor().then(async () => {
    throw new Error(`the IdP refused: ${await page.locator('#error').innerText()}`);
  });
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no redirect to ${args.redirect_prefix} within ${STEP_TIMEOUT_MS} ms`)), STEP_TIMEOUT_MS);
  });
  const redirectUrl = await Promise.race([redirect, refused, timeout]);
  clearTimeout(timer);
  refused.catch(() => {});

  process.stdout.write(`${JSON.stringify({
    consent_text: consentText,
    client_name: clientName,
    redirect_host: redirectHost,
    consent_images: consentImages,
    consent_scripts: consentScripts,
    dialogs,
    redirect: redirectUrl,
  })}\n`);
  await browser.close();
  process.exit(0);
} catch (error) {
  let where = '(no page)';
  let text = '';
  if (page) {
    where = page.url();
    text = await page.locator('body').innerText({ timeout: 2_000 }).catch((e) => `(no text: ${e.message})`);
  }
  process.stderr.write(`browser-sign-in: failed while ${step}: ${error.message}\n`
    + `browser-sign-in: at ${where}\n`
    + `browser-sign-in: dialogs ${JSON.stringify(dialogs)}\n`
    + `browser-sign-in: the page says:\n${text}\n`);
  await browser.close().catch(() => {});
  process.exit(1);
}
