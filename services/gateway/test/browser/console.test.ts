// The console in a real browser (Debian's chromium, driven by playwright-core) against the real orders, inventory
// and payments, their fault admin APIs and the gateway: a customer places an order and watches its saga reach
// APPROVED, pushed over GET /v1/orders/{id}/events; the operator switches a fault on and off; /docs renders the
// operations. Screenshots go to services/gateway/test-results/browser/ (printed at the start).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { chromium } from 'playwright-core';
import { startGateway } from '../support';
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
let browser: Browser;
let profile: string;
const contexts: BrowserContext[] = [];

async function shot(page: Page, name: string) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

async function consolePage(): Promise<Page> {
  const context = await browser.newContext();
  contexts.push(context);
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  await page.goto(`${gateway.url}/`);
  await page.waitForSelector('body[data-ready="true"]');
  return page;
}

/** In open mode the console acts as the customer typed in its "Customer id" field. */
async function actAs(page: Page, customerId: string) {
  await page.getByLabel('Customer id', { exact: true }).fill(customerId);
  await page.getByLabel('Customer id', { exact: true }).dispatchEvent('change');
}

before(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run installs it)`);
  mkdirSync(SHOTS, { recursive: true });
  console.log(`screenshots: ${SHOTS}`);
  platform = await startPlatform();
  gateway = await startGateway({
    ...platform.addresses,
    deadlineMs: 5000,
    env: {
      FAULT_ADMIN_URLS: Object.entries(platform.adminUrls)
        .map(([name, url]) => `${name}=${url}`)
        .join(','),
    },
  });
  profile = mkdtempSync(join(tmpdir(), 'shop-chromium-'));
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: WAIT_MS,
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
  if (profile) rmSync(profile, { recursive: true, force: true });
});

describe('the console in a browser', { timeout: TEST_MS * 4 }, () => {
  let orderId = '';

  it(
    'places an order and shows its saga reach APPROVED, pushed from the event stream',
    { timeout: TEST_MS },
    async () => {
      const page = await consolePage();
      const requests: string[] = [];
      page.on('request', (r) => requests.push(`${r.method()} ${new URL(r.url()).pathname}`));
      await actAs(page, `e2e-${Date.now().toString(36)}`);
      await page.getByRole('row').filter({ hasText: 'SKU-0001' }).waitFor();
      await page
        .getByLabel(/^Quantity of /)
        .first()
        .fill('2');
      await page
        .getByRole('button', { name: /^Add .* to the cart$/ })
        .first()
        .click();
      await page.getByRole('button', { name: 'Place order' }).click();
      const status = page.locator('#progress-status');
      await status.and(page.locator('[data-status="APPROVED"]')).waitFor();
      orderId = (await page.locator('#progress-order').textContent()) ?? '';
      assert.match(orderId, /^[0-9a-f-]{36}$/);
      assert.match((await page.locator('#progress-live').textContent()) ?? '', /APPROVED/);
      const steps = await page
        .locator('#progress-steps li')
        .evaluateAll((lis) =>
          lis.map((li) => `${li.getAttribute('data-step')}=${li.getAttribute('data-state')}`),
        );
      assert.deepEqual(steps, ['RESERVE_STOCK=done', 'AUTHORIZE_PAYMENT=done', 'COMMIT_STOCK=done']);
      // Pushed, not polled: one stream, and no read of the order itself while it progressed.
      assert.equal(requests.filter((r) => r === `GET /v1/orders/${orderId}/events`).length, 1);
      assert.equal(requests.filter((r) => r === `GET /v1/orders/${orderId}`).length, 0);
      await page.locator(`#orders tr[data-order="${orderId}"]`).waitFor();
      await shot(page, '1-order-approved');
    },
  );

  it('lets the operator switch a fault on and off', { timeout: TEST_MS }, async () => {
    const page = await consolePage();
    await page.locator('#faults-table tr[data-service="inventory"]').waitFor();
    await page.getByLabel('Service', { exact: true }).selectOption('inventory');
    await page.getByLabel('Fault', { exact: true }).selectOption('grpc-server-latency');
    await page.getByLabel('Parameters (JSON object)').fill('{"fixedMs": 1}');
    await page.getByRole('button', { name: 'Switch on' }).click();
    const active = page.locator(
      '#faults-table tr[data-service="inventory"] li[data-fault="grpc-server-latency"]',
    );
    await active.waitFor();
    await shot(page, '2-operator-fault-on');
    await page.getByRole('button', { name: 'Switch off grpc-server-latency in inventory' }).click();
    await active.waitFor({ state: 'detached' });
    const view = (await (await fetch(`${platform.adminUrls.inventory}/faults`)).json()) as {
      active: unknown[];
    };
    assert.deepEqual(view.active, []);
    await shot(page, '3-operator-fault-off');
  });

  it('renders the OpenAPI document at /docs, offline', { timeout: TEST_MS }, async () => {
    const context = await browser.newContext();
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT_MS);
    const foreign: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(gateway.url)) foreign.push(r.url());
    });
    await page.goto(`${gateway.url}/docs`);
    await page.locator('.opblock-summary-path', { hasText: '/v1/orders/{id}/events' }).first().waitFor();
    const paths = await page.locator('.opblock-summary-path').allTextContents();
    for (const p of ['/v1/products', '/v1/orders', '/v1/admin/faults'])
      assert.ok(
        paths.some((x) => x.replace(/\u200b/g, '') === p),
        `${p} not rendered`,
      );
    assert.deepEqual(foreign, [], 'the docs page reached outside the gateway');
    await shot(page, '4-docs');
  });
});
