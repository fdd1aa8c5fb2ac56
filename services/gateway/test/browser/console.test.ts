// The console in a real browser (Debian's chromium, driven by playwright-core) against a real issuer (oidc-provider),
// the real orders, inventory and payments with their fault admin APIs, and the gateway: a customer signs in through
// the issuer's login form, places an order and watches its saga reach APPROVED, pushed over
// GET /v1/orders/{id}/events; a second customer is refused that order and sees no operator views; the operator sees
// every order and switches a fault on and off; /docs renders the operations. Screenshots go to
// services/gateway/test-results/browser/ (printed at the start).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import AxeBuilder from '@axe-core/playwright';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { chromium } from 'playwright-core';
import type { TestIssuer } from '@shop/testkit';
import { testIssuer, uniqueCustomer } from '@shop/testkit';
import { deadAddress, startGateway } from '../support';
import type { RunningGateway } from '../support';
import { startPlatform } from './platform';
import type { Platform } from './platform';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = join(__dirname, '..', '..', '..', 'test-results', 'browser');
/** Each test's own bound; the browser's waits are shorter, so a miss names what it waited for. */
const TEST_MS = 90_000;
const WAIT_MS = 30_000;

let platform: Platform;
let gateway: RunningGateway;
let issuer: TestIssuer;
let browser: Browser;
const contexts: BrowserContext[] = [];

async function shot(page: Page, name: string) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** A new browser context (its own cookies and storage: another person) on the console. */
async function consolePage(): Promise<Page> {
  const context = await browser.newContext();
  contexts.push(context);
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  await page.goto(`${gateway.url}/`);
  await page.waitForSelector('body[data-ready="true"]');
  return page;
}

/** Signs in as a person does: the console's button, the issuer's login form, back on the console. */
async function signIn(page: Page, username: string, password: string) {
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => u.href.startsWith(issuer.url));
  await page.locator('#login input[name="username"]').fill(username);
  await page.locator('#login input[name="password"]').fill(password);
  await page.locator('#login button[type="submit"]').click();
  await page.waitForURL(`${gateway.url}/`);
  await page.waitForSelector('body[data-ready="true"]');
  assert.match((await page.locator('#who').textContent()) ?? '', new RegExp(`Signed in as ${username}\\b`));
}

/**
 * The accessibility problems axe-core (a kept rule engine) finds on the page as it is now, against WCAG 2.1 A and AA:
 * those of impact serious or critical, one line each.
 */
async function accessibilityProblems(page: Page): Promise<string[]> {
  const result = await new AxeBuilder({ page })
    .withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'])
    .analyze();
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help}; ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

/** A fresh customer registered at the issuer, with a password the test types into the login form. */
async function freshCustomer(prefix: string) {
  const username = uniqueCustomer(prefix);
  const password = `pw-${username}`;
  await issuer.client.register(username, password);
  return { username, password };
}

/** A REST call from inside the page, with the token the console holds (what the person could do by hand). */
function callAsPage(page: Page, method: string, path: string) {
  return page.evaluate(
    async ([m, p]) => {
      const session = JSON.parse(sessionStorage.getItem('shop.session') ?? 'null') as {
        token: string;
      } | null;
      const res = await fetch(p, {
        method: m,
        headers: { authorization: `Bearer ${session?.token ?? ''}`, 'content-type': 'application/json' },
        ...(m === 'POST' ? { body: '{}' } : {}),
      });
      return res.status;
    },
    [method, path] as const,
  );
}

before(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run installs it)`);
  mkdirSync(SHOTS, { recursive: true });
  console.log(`screenshots: ${SHOTS}`);
  // The console's origin must be known to the issuer (its redirect URI and CORS) before the gateway starts.
  const port = (await deadAddress()).split(':')[1] ?? '0';
  issuer = await testIssuer({ consoleOrigins: [`http://127.0.0.1:${port}`] });
  const auth = { AUTH_MODE: 'oidc', OIDC_ISSUER: issuer.url };
  platform = await startPlatform(auth);
  gateway = await startGateway({
    ...platform.addresses,
    deadlineMs: 5000,
    env: {
      ...auth,
      HTTP_PORT: port,
      FAULT_ADMIN_URLS: Object.entries(platform.adminUrls)
        .map(([name, url]) => `${name}=${url}`)
        .join(','),
    },
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: WAIT_MS,
    // playwright starts the browser on a new empty profile (--user-data-dir of its own temporary directory).
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

after(async () => {
  for (const c of contexts) await c.close().catch(() => undefined);
  await browser?.close().catch(() => undefined);
  await gateway?.stop();
  await platform?.stop();
  await issuer?.stop();
});

describe('the console in a browser', { timeout: TEST_MS * 5 }, () => {
  let orderId = '';
  let first = { username: '', password: '' };

  it(
    'signs a customer in, places an order and shows its saga reach APPROVED, pushed from the event stream',
    { timeout: TEST_MS },
    async () => {
      first = await freshCustomer('e2e');
      const page = await consolePage();
      assert.equal(await page.locator('#operator').isVisible(), false);
      await signIn(page, first.username, first.password);
      const requests: string[] = [];
      page.on('request', (r) => requests.push(`${r.method()} ${new URL(r.url()).pathname}`));
      await page.getByRole('row').filter({ hasText: 'SKU-0001' }).waitFor();
      await page
        .getByLabel(/^Quantity of /)
        .first()
        .fill('2');
      await page
        .getByRole('button', { name: /^Add to cart: / })
        .first()
        .click();
      await page.getByRole('button', { name: 'Place order' }).click();
      const status = page.locator('#progress-status');
      await status.and(page.locator('[data-status="APPROVED"]')).waitFor();
      orderId = (await page.locator('#progress-order').textContent()) ?? '';
      assert.match(orderId, /^[0-9a-f-]{36}$/);
      assert.match((await page.locator('#progress-live').textContent()) ?? '', /APPROVED/);
      const steps: string[] = [];
      for (const li of await page.locator('#progress-steps li').all())
        steps.push(`${await li.getAttribute('data-step')}=${await li.getAttribute('data-state')}`);
      assert.deepEqual(steps, ['RESERVE_STOCK=done', 'AUTHORIZE_PAYMENT=done', 'COMMIT_STOCK=done']);
      // Pushed, not polled: one stream, and no read of the order itself while it progressed.
      assert.equal(requests.filter((r) => r === `GET /v1/orders/${orderId}/events`).length, 1);
      assert.equal(requests.filter((r) => r === `GET /v1/orders/${orderId}`).length, 0);
      await page.locator(`#orders tr[data-order="${orderId}"]`).waitFor();
      await shot(page, '1-customer-order-approved');
    },
  );

  it(
    "refuses a second customer the first one's order, and shows them no operator views",
    { timeout: TEST_MS },
    async () => {
      assert.ok(orderId, 'the first test placed an order');
      const second = await freshCustomer('e2e-other');
      const page = await consolePage();
      await signIn(page, second.username, second.password);
      await page.locator('#history-status', { hasText: 'No orders yet.' }).waitFor();
      assert.equal(await page.locator(`#orders tr[data-order="${orderId}"]`).count(), 0);
      assert.equal(await page.locator('#operator').isVisible(), false);
      // Not found, as if it did not exist: reading, watching and cancelling another's order.
      assert.equal(await callAsPage(page, 'GET', `/v1/orders/${orderId}`), 404);
      assert.equal(await callAsPage(page, 'GET', `/v1/orders/${orderId}/events`), 404);
      assert.equal(await callAsPage(page, 'POST', `/v1/orders/${orderId}/cancel`), 404);
      assert.equal(await callAsPage(page, 'GET', `/v1/orders?customerId=${first.username}`), 403);
      assert.equal(await callAsPage(page, 'GET', '/v1/admin/faults'), 403);
      await shot(page, '2-second-customer');
    },
  );

  it(
    'shows the operator every order and lets them switch a fault on and off',
    { timeout: TEST_MS },
    async () => {
      assert.ok(orderId, 'the first test placed an order');
      const page = await consolePage();
      await signIn(page, 'ops', 'ops-demo');
      await page.locator('#operator').waitFor();
      await page.locator(`#orders tr[data-order="${orderId}"]`).waitFor();
      await page.locator('#faults-table tr[data-service="inventory"]').waitFor();
      await page.getByLabel('Service', { exact: true }).selectOption('inventory');
      await page.getByLabel('Fault', { exact: true }).selectOption('grpc-server-latency');
      await page.getByLabel('Parameters (JSON object)').fill('{"fixedMs": 1}');
      await page.getByRole('button', { name: 'Switch on' }).click();
      const active = page.locator(
        '#faults-table tr[data-service="inventory"] li[data-fault="grpc-server-latency"]',
      );
      await active.waitFor();
      await shot(page, '3-operator-fault-on');
      await page.getByRole('button', { name: 'Switch off grpc-server-latency in inventory' }).click();
      await active.waitFor({ state: 'detached' });
      const view = (await (await fetch(`${platform.adminUrls.inventory}/faults`)).json()) as {
        active: unknown[];
      };
      assert.deepEqual(view.active, []);
      await shot(page, '4-operator-fault-off');
    },
  );

  it(
    'has no serious accessibility problems (axe-core, WCAG 2.1 AA): signed out, the login page (and its error), the operator view',
    { timeout: TEST_MS },
    async () => {
      const page = await consolePage();
      const found: string[] = [];
      const check = async (where: string) =>
        found.push(...(await accessibilityProblems(page)).map((p) => `${where}: ${p}`));
      await page.getByRole('row').filter({ hasText: 'SKU-0001' }).waitFor();
      await check('signed out');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL((u) => u.href.startsWith(issuer.url));
      await check('login page');
      // A failed login shows the form's error summary and marks the field: checked too.
      await page.locator('#login input[name="username"]').fill('ops');
      await page.locator('#login input[name="password"]').fill('not-the-password');
      await page.locator('#login button[type="submit"]').click();
      await page.locator('[role="alert"]').first().waitFor();
      await check('login page with an error');
      await page.locator('#login input[name="username"]').fill('ops');
      await page.locator('#login input[name="password"]').fill('ops-demo');
      await page.locator('#login button[type="submit"]').click();
      await page.waitForURL(`${gateway.url}/`);
      await page.waitForSelector('body[data-ready="true"]');
      await page.locator('#operator').waitFor();
      await page.locator('#faults-table tr[data-service="inventory"]').waitFor();
      await check('operator');
      assert.deepEqual(found, []);
    },
  );

  it('renders the OpenAPI document at /docs, offline', { timeout: TEST_MS }, async () => {
    const context = await browser.newContext();
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT_MS);
    const foreign: string[] = [];
    page.on('request', (r) => {
      // The gateway's files, and the openIdConnect discovery URL that openapi.yaml names (loopback): no CDN.
      if (new URL(r.url()).hostname !== '127.0.0.1') foreign.push(r.url());
    });
    await page.goto(`${gateway.url}/docs`);
    await page.locator('.opblock-summary-path', { hasText: '/v1/orders/{id}/events' }).first().waitFor();
    const paths = await page.locator('.opblock-summary-path').allTextContents();
    for (const p of ['/v1/products', '/v1/orders', '/v1/admin/faults'])
      assert.ok(
        paths.some((x) => x.replace(/\u200b/g, '') === p),
        `${p} not rendered`,
      );
    assert.deepEqual(foreign, [], 'the docs page reached outside this machine');
    await shot(page, '5-docs');
  });
});
