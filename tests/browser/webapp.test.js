// The reference web app (webapp/) in Chromium against the local stack: sign-in, the pre-Link screen, Link
// through the emulator's copy of Plaid's web SDK, the item list, a forced login error and update mode, removal,
// an OAuth institution, closing Link, the operators' funnel, and the Link script URL taken from configuration.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launch, screenshot } from './lib/browser.js';
import { startStack, waitFor } from './lib/stack.js';

const PLAID_CDN_SCRIPT = 'https://cdn.plaid.com/link/v2/stable/link-initialize.js';
const LONG = { timeout: 300_000 };

let stack;
let browser;

before(async () => {
  stack = await startStack();
  browser = await launch();
}, LONG);

after(async () => {
  await browser?.close();
  await stack?.stop();
});

/** A fresh browser context (its own sessionStorage) on the app, recording the Link events the app posts. */
async function openApp() {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  const linkEvents = [];
  page.on('request', (req) => {
    if (req.method() === 'POST' && req.url() === `${stack.api}/link/events`) {
      linkEvents.push(...JSON.parse(req.postData()).events);
    }
  });
  const failures = [];
  page.on('pageerror', (e) => failures.push(e));
  await page.goto(stack.app);
  return { context, page, linkEvents, failures };
}

async function signIn(page, sub, { operator = false } = {}) {
  await page.locator('#signin-sub').fill(sub);
  if (operator) {
    await page.locator('#signin-operator').check();
  }
  await page.locator('#signin-submit').click();
  await page.locator('#home').waitFor();
}

const uniqueUser = (name) => `${name}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

/** The Link iframe the SDK opened (the emulator's pages). */
function linkFrame(page) {
  return page.frameLocator('iframe[id^="plaid-link-iframe-"]');
}

/** Waits for the app's item list to show `count` items (after a load that began after `since`). */
async function items(page, count) {
  const cards = page.locator('#items > li.item');
  await waitFor(async () => (await cards.count()) === count, { what: `${count} item(s) listed` });
  return cards;
}

async function emulator(path, body) {
  const resp = await fetch(stack.emulator + path, body === undefined ? {} : {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  const text = await resp.text();
  assert.equal(resp.status, 200, `${path}: ${text}`);
  return JSON.parse(text);
}

test('a user links a bank, repairs a broken login in update mode, reads transactions and removes the item', LONG, async () => {
  const { context, page, linkEvents, failures } = await openApp();
  await page.locator('#signin-form').waitFor();
  await screenshot(page, '01-sign-in');
  await signIn(page, uniqueUser('alice'));

  // The pre-Link screen: why link, and what keeps the user's data safe.
  const preLink = page.locator('#pre-link');
  await preLink.waitFor();
  const text = await preLink.innerText();
  assert.match(text, /never see or store your bank username or password/);
  assert.match(text, /disconnect any time/);
  assert.equal(await page.locator('#operator').isVisible(), false, 'no funnel for a user');
  await screenshot(page, '02-pre-link');

  // Link through the emulator's link-initialize.js, in its overlay iframe.
  await page.locator('#connect').click();
  const frame = linkFrame(page);
  await frame.locator('input[value="ins_109508"]').check();
  await screenshot(page, '03-link-select-institution');
  await frame.locator('#plaid-link-continue').click();
  await frame.locator('#plaid-link-submit').click();
  await frame.locator('input[name="mask"][value="0000"]').waitFor();
  await screenshot(page, '04-link-select-accounts');
  const exchanged = page.waitForResponse((r) => r.url() === `${stack.api}/items/exchange`);
  await frame.locator('#plaid-link-continue').click();
  assert.equal((await exchanged).status(), 200);
  let cards = await items(page, 1);
  const card = cards.first();
  assert.equal(await card.locator('h3').innerText(), 'First Platypus Bank');
  assert.equal(await card.getAttribute('data-action'), 'healthy');
  assert.equal(await card.locator('.accounts li').count(), 9);
  assert.equal(await page.locator('iframe[id^="plaid-link-iframe-"]').count(), 0, 'Link closed');
  const itemId = await card.getAttribute('data-item');
  await screenshot(page, '05-item-listed');

  // Every callback went to weft: onEvent's stream, then onSuccess.
  const names = linkEvents.map((e) => e.event_name || e.kind);
  for (const name of ['OPEN', 'SELECT_INSTITUTION', 'SUBMIT_CREDENTIALS', 'HANDOFF', 'SUCCESS']) {
    assert.ok(names.includes(name), `${name} posted (${names})`);
  }
  const session = linkEvents[0].link_session_id;
  assert.ok(linkEvents.every((e) => e.link_session_id === session), 'one Link session');
  assert.equal(linkEvents.at(-1).kind, 'SUCCESS');

  // Transactions arrive once the first sync ran (Plaid's webhooks, weft's queue).
  await waitFor(async () => {
    await page.reload();
    await page.locator(`#items li[data-item="${itemId}"] button[data-action="transactions"]`).click();
    await page.locator('#transactions').waitFor();
    return (await page.locator('#transactions-body tr').count()) > 0;
  }, { what: 'the item\'s transactions', timeoutMs: 120_000, everyMs: 1000 });
  await screenshot(page, '06-transactions');

  // The bank logs the user out: the emulator forces ITEM_LOGIN_REQUIRED and sends Plaid's ERROR webhook.
  await emulator(`/__emulator/items/${itemId}/reset_login`, {});
  await waitFor(async () => {
    const { deliveries } = await emulator(`/__emulator/webhooks?item_id=${itemId}&webhook_code=ERROR`);
    return deliveries.length > 0 && deliveries.every((d) => d.status === 'delivered');
  }, { what: 'the ERROR webhook delivered to weft' });
  await page.reload();
  cards = await items(page, 1);
  assert.equal(await cards.first().getAttribute('data-action'), 'needs_login');
  const banner = cards.first().locator('.banner.relink');
  assert.match(await banner.innerText(), /Log in again/);
  assert.equal(await banner.getAttribute('role'), 'alert');
  const colours = await banner.evaluate((b) => [getComputedStyle(b).backgroundColor, getComputedStyle(b).color]);
  assert.notEqual(colours[0], colours[1]);
  assert.notEqual(colours[0], 'rgba(0, 0, 0, 0)', 'the banner stands out from the page');
  await screenshot(page, '07-relink-banner');

  // Update mode: the same item, credentials again, and weft confirms the repair with Plaid.
  const tokenAsked = page.waitForRequest((r) => r.url() === `${stack.api}/link/token` && r.method() === 'POST');
  await banner.locator('button[data-action="update"]').click();
  assert.deepEqual(JSON.parse((await tokenAsked).postData()), { item_id: itemId });
  await frame.locator('#plaid-link-submit').waitFor();
  assert.match(await frame.locator('body').innerText(), /Update mode/);
  await screenshot(page, '08-update-mode');
  await frame.locator('#plaid-link-submit').click();
  await page.locator('#notice', { hasText: 'working again' }).waitFor();
  cards = await items(page, 1);
  await waitFor(async () => (await cards.first().getAttribute('data-action')) === 'healthy', { what: 'the item healthy' });
  assert.equal(await page.locator('.banner.relink').count(), 0);
  const success = linkEvents.filter((e) => e.kind === 'SUCCESS').at(-1);
  assert.ok(success.link_token, 'the update-mode SUCCESS names its link token');
  await screenshot(page, '09-healthy-again');

  // Removal: confirmed, removed at Plaid, gone from the list.
  page.once('dialog', (d) => d.accept());
  await cards.first().locator('button[data-action="remove"]').click();
  await page.locator('#items-empty').waitFor();
  assert.equal(await page.locator('#items > li.item').count(), 0);
  const atPlaid = await emulator(`/__emulator/items/${itemId}`);
  assert.equal(atPlaid.removed, true);
  await screenshot(page, '10-removed');
  assert.deepEqual(failures, []);
  await context.close();
});

test('closing Link reports onExit and links nothing', LONG, async () => {
  const { context, page, linkEvents, failures } = await openApp();
  await signIn(page, uniqueUser('carol'));
  await page.locator('#connect').click();
  const frame = linkFrame(page);
  await frame.locator('#plaid-link-continue').click();
  await frame.locator('#plaid-link-submit').waitFor();
  const exitPosted = page.waitForRequest((r) => r.url() === `${stack.api}/link/events`
    && JSON.parse(r.postData()).events.some((e) => e.kind === 'EXIT'));
  await frame.locator('#plaid-link-close').click();
  const exit = JSON.parse((await exitPosted).postData()).events.find((e) => e.kind === 'EXIT');
  assert.equal(exit.exit_status, 'requires_credentials');
  assert.equal(exit.institution_id, 'ins_109508');
  assert.equal(exit.error_code, null);
  await waitFor(async () => (await page.locator('iframe[id^="plaid-link-iframe-"]').count()) === 0, { what: 'Link closed' });
  await page.locator('#items-empty').waitFor();
  assert.ok(linkEvents.some((e) => e.event_name === 'EXIT'));
  await screenshot(page, '11-link-closed');
  assert.deepEqual(failures, []);
  await context.close();
});

test('an OAuth institution: the page goes to the bank and Link resumes on the way back', LONG, async () => {
  const { context, page, failures } = await openApp();
  await signIn(page, uniqueUser('bob'));
  await page.locator('#connect').click();
  const frame = linkFrame(page);
  await frame.locator('input[value="ins_127287"]').check();
  await frame.locator('#plaid-link-continue').click();
  await frame.locator('#plaid-link-oauth-continue').waitFor();
  await screenshot(page, '12-oauth-pane');

  // The whole page goes to the (emulated) bank.
  await frame.locator('#plaid-link-oauth-continue').click();
  await page.waitForURL((u) => u.href.startsWith(`${stack.emulator}/__emulator/link/oauth?oauth_state_id=`));
  assert.match(await page.locator('h1').innerText(), /Platypus OAuth Bank/);
  await screenshot(page, '13-oauth-bank');

  // The bank redirects to the link token's redirect_uri (the app), which re-opens Link with receivedRedirectUri.
  await page.locator('#bank-authorize').click();
  await page.waitForURL((u) => u.href.startsWith(stack.app));
  const resumed = linkFrame(page);
  await resumed.locator('input[name="mask"][value="0000"]').waitFor();
  await screenshot(page, '14-oauth-resumed');
  const exchanged = page.waitForResponse((r) => r.url() === `${stack.api}/items/exchange`);
  await resumed.locator('#plaid-link-continue').click();
  assert.equal((await exchanged).status(), 200);
  const cards = await items(page, 1);
  assert.equal(await cards.first().locator('h3').innerText(), 'Platypus OAuth Bank');
  assert.equal(new URL(page.url()).search, '', 'the oauth_state_id is dropped from the address bar');
  await screenshot(page, '15-oauth-item-listed');
  assert.deepEqual(failures, []);
  await context.close();
});

test('an operator sees the Link funnel as a chart', LONG, async () => {
  const { context, page, failures } = await openApp();
  await signIn(page, uniqueUser('olivia'), { operator: true });
  const chart = page.locator('#funnel-chart svg#funnel-svg');
  await chart.waitFor();
  // The sessions of the tests above: First Platypus Bank (two links, one closed) and Platypus OAuth Bank.
  const bar = (ins, stage) => chart.locator(`rect[data-institution="${ins}"][data-stage="${stage}"]`);
  assert.ok(Number(await bar('ins_109508', 'selected').getAttribute('data-value')) >= 2);
  assert.ok(Number(await bar('ins_109508', 'succeeded').getAttribute('data-value')) >= 1);
  assert.ok(Number(await bar('ins_109508', 'exited').getAttribute('data-value')) >= 1);
  assert.ok(Number(await bar('ins_127287', 'succeeded').getAttribute('data-value')) >= 1);
  assert.ok(Number(await bar('ins_109508', 'selected').getAttribute('width')) > 1, 'bars are drawn to scale');
  assert.match(await page.locator('#funnel-table').innerText(), /First Platypus Bank/);
  await screenshot(page, '16-operator-funnel');
  assert.deepEqual(failures, []);
  await context.close();
});

test('with Plaid\'s production script URL configured, the app loads Link from Plaid\'s CDN', LONG, async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  // The stack's config.js, with only linkScriptUrl changed as in config.example.js.
  const local = await (await fetch(`${stack.app}config.js`)).text();
  const config = JSON.parse(local.replace(/^window\.WEFT_CONFIG\s*=\s*/, '').replace(/;\s*$/, ''));
  await page.route(`${stack.app}config.js`, (route) => route.fulfill({
    contentType: 'text/javascript; charset=utf-8',
    body: `window.WEFT_CONFIG = ${JSON.stringify({ ...config, linkScriptUrl: PLAID_CDN_SCRIPT })};`,
  }));
  const requested = [];
  await page.route('https://cdn.plaid.com/**', (route) => {
    requested.push(route.request().url());
    return route.abort('internetdisconnected'); // Plaid is not reachable from here.
  });
  await page.goto(stack.app);
  await signIn(page, uniqueUser('dora'));
  await page.locator('#connect').click();
  await page.locator('#notice.error', { hasText: 'Plaid Link could not be loaded' }).waitFor();
  assert.deepEqual(requested, [PLAID_CDN_SCRIPT]);
  const emulatorScripts = await page.locator(`script[src^="${stack.emulator}"]`).count();
  assert.equal(emulatorScripts, 0, 'nothing is loaded from the emulator');
  await screenshot(page, '17-production-script-url');
  await context.close();
});
