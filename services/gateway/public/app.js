// The console (docs/console.md): plain ES modules, no build step. Everything it shows comes from the REST API of
// this gateway (openapi.yaml), with the signed-in caller's token.
import { completeSignIn, currentSession, signIn, signOut } from './auth.js';

const $ = (id) => document.getElementById(id);
const TRACES = 'shop.traces';
const PAGE_SIZE = 10;

/** A DOM element: `el('td', { class: 'x' }, 'text', child)`. Text is always text, never markup. */
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== undefined && c !== null) e.append(c);
  return e;
}

const money = (cents, currency = 'EUR') =>
  new Intl.NumberFormat('en', { style: 'currency', currency }).format(cents / 100);
const when = (iso) => (iso ? new Date(iso).toLocaleString() : '');

let config = {
  authMode: 'oidc',
  issuer: null,
  clientId: 'shop-console',
  tracesUiUrl: null,
  metricsUiUrl: null,
};
let session = null;
let products = [];
const cart = new Map();
let watch = null;
let page = { cursor: null, customer: undefined };

// On an open edge (AUTH_MODE=open) there are no roles: every caller reaches everything, the operator views too.
const isOperator = () => openMode() || Boolean(session?.roles.includes('operator'));
const openMode = () => config.authMode === 'open';
const signedIn = () => openMode() || session !== null;
/** The customer the caller acts as: the token's, or the one typed in open mode. */
const customerId = () => (openMode() ? $('open-customer').value.trim() : (session?.customerId ?? ''));

function notify(message) {
  const n = $('notice');
  n.textContent = message;
  n.hidden = !message;
}

class ApiError extends Error {
  constructor(status, problem) {
    const fields = (problem?.errors ?? []).map((e) => `${e.field} ${e.message}`).join('; ');
    super(
      `${problem?.title ?? `HTTP ${status}`}${problem?.detail ? `: ${problem.detail}` : ''}${fields && !problem?.detail?.includes(fields) ? ` (${fields})` : ''}`,
    );
    this.status = status;
    this.problem = problem;
  }
}

/** A call of the REST API with the caller's token; problems become ApiErrors; returns the answer and its trace id. */
async function api(path, { method = 'GET', body, signal } = {}) {
  const headers = {};
  if (session) headers.authorization = `Bearer ${session.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
  if (res.status === 401 && session) {
    // Expired or no longer valid: back to signed out, with a way to sign in again.
    signOut();
    session = null;
    render();
  }
  const traceId = /^[0-9a-f]{2}-([0-9a-f]{32})-/.exec(res.headers.get('traceresponse') ?? '')?.[1] ?? null;
  if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => null));
  return { data: res.status === 204 ? null : await res.json(), traceId, res };
}

// ---- traces: the trace id of the POST that created each order (the gateway's traceresponse header) ----
const traces = () => JSON.parse(localStorage.getItem(TRACES) ?? '{}');
function keepTrace(orderId, traceId) {
  if (!traceId) return;
  const t = traces();
  t[orderId] = traceId;
  const ids = Object.keys(t);
  for (const old of ids.slice(0, Math.max(0, ids.length - 200))) delete t[old];
  localStorage.setItem(TRACES, JSON.stringify(t));
}

/**
 * The links of an order: its trace (the order's own `traceId`, or the one the console saw when it placed it) and the
 * saga metrics around its time.
 */
function orderLinks(order) {
  const links = [];
  const traceId = order.traceId ?? traces()[order.id];
  if (config.tracesUiUrl && traceId)
    links.push(
      el(
        'a',
        { href: `${config.tracesUiUrl}/traces/${traceId}`, target: '_blank', rel: 'noopener' },
        'trace',
      ),
    );
  if (config.metricsUiUrl && order.createdAt) {
    const end = new Date(Date.parse(order.createdAt) + 5 * 60_000).toISOString();
    const q = new URLSearchParams({
      'g0.expr': 'histogram_quantile(0.95, sum by (le, step) (rate(saga_step_duration_seconds_bucket[1m])))',
      'g0.tab': '0',
      'g0.range_input': '15m',
      'g0.end_input': end,
    });
    links.push(
      el(
        'a',
        { href: `${config.metricsUiUrl}/graph?${q}`, target: '_blank', rel: 'noopener' },
        'saga metrics',
      ),
    );
  }
  const span = el('span', { class: 'links' });
  links.forEach((l, i) => span.append(i ? ' · ' : '', l));
  return span;
}

// ---- catalogue and cart ----
async function loadProducts() {
  try {
    products = (await api('/v1/products')).data.items;
    $('catalogue-status').textContent =
      `${products.length} ${products.length === 1 ? 'product' : 'products'}.`;
    $('products').hidden = false;
    const body = $('products').tBodies[0];
    body.replaceChildren(
      ...products.map((p) => {
        const qty = el('input', {
          type: 'number',
          min: 1,
          max: 1000,
          value: 1,
          id: `qty-${p.sku}`,
          'aria-label': `Quantity of ${p.name}`,
        });
        return el(
          'tr',
          {},
          el('th', { scope: 'row' }, p.name),
          el('td', {}, el('code', {}, p.sku)),
          el('td', {}, money(p.priceCents, p.currency)),
          el('td', {}, String(p.available)),
          el('td', {}, qty),
          el(
            'td',
            {},
            el(
              'button',
              {
                type: 'button',
                'aria-label': `Add to cart: ${p.name}`,
                onclick: () => {
                  const n = Number(qty.value);
                  if (!Number.isInteger(n) || n < 1 || n > 1000)
                    return notify(`Quantity of ${p.name}: a whole number from 1 to 1000.`);
                  notify('');
                  cart.set(p.sku, Math.min(1000, (cart.get(p.sku) ?? 0) + n));
                  renderCart();
                },
              },
              'Add to cart',
            ),
          ),
        );
      }),
    );
  } catch (err) {
    $('catalogue-status').textContent = `The catalogue could not be loaded: ${err.message}`;
  }
}

function renderCart() {
  const lines = [...cart.entries()];
  $('cart-empty').hidden = lines.length > 0;
  let total = 0;
  $('cart-lines').replaceChildren(
    ...lines.map(([sku, qty]) => {
      const p = products.find((x) => x.sku === sku);
      total += (p?.priceCents ?? 0) * qty;
      return el(
        'li',
        {},
        `${qty} × ${p?.name ?? sku} `,
        el(
          'button',
          {
            type: 'button',
            'aria-label': `Remove ${p?.name ?? sku} from the cart`,
            onclick: () => (cart.delete(sku), renderCart()),
          },
          'Remove',
        ),
      );
    }),
  );
  $('cart-total').textContent = lines.length ? `Total: ${money(total)}` : '';
  $('place-order').disabled = lines.length === 0 || !signedIn();
  $('place-hint').hidden = signedIn();
}

async function placeOrder(event) {
  event.preventDefault();
  notify('');
  const items = [...cart.entries()].map(([sku, quantity]) => ({ sku, quantity }));
  const body = openMode() ? { customerId: customerId(), items } : { items };
  $('place-order').disabled = true;
  try {
    const { data: order, traceId } = await api('/v1/orders', { method: 'POST', body });
    keepTrace(order.id, traceId);
    cart.clear();
    renderCart();
    watchOrder(order.id);
    void loadHistory();
  } catch (err) {
    notify(`The order was not placed: ${err.message}`);
  } finally {
    renderCart();
  }
}

// ---- live progress: GET /v1/orders/{id}/events read with fetch (it can send Authorization), not EventSource ----
const STEP_NAMES = {
  RESERVE_STOCK: 'Reserve stock',
  AUTHORIZE_PAYMENT: 'Authorize payment',
  COMMIT_STOCK: 'Commit stock',
  COMPENSATING: 'Undoing earlier steps',
  DONE: 'Done',
};
const STATUS_WORDS = {
  PENDING: 'PENDING: the saga is running',
  APPROVED: 'APPROVED: stock reserved and payment authorized',
  REJECTED: 'REJECTED',
  CANCELLED: 'CANCELLED',
};

function showEvent({ order, saga, steps }) {
  $('progress-idle').hidden = true;
  $('progress-view').hidden = false;
  $('progress-order').textContent = order.id;
  $('progress-links').replaceChildren(orderLinks(order));
  const status = $('progress-status');
  status.textContent =
    STATUS_WORDS[order.status] + (order.rejectionReason ? ` (${order.rejectionReason})` : '');
  status.className = `state state-${order.status}`;
  status.dataset.status = order.status;
  $('progress-steps').replaceChildren(
    ...steps.map((s) =>
      el(
        'li',
        { class: `state state-${s.state}`, 'data-step': s.step, 'data-state': s.state },
        `${STEP_NAMES[s.step] ?? s.step}: ${s.state}`,
      ),
    ),
  );
  $('progress-log').append(
    el(
      'li',
      {},
      `${new Date().toLocaleTimeString()}: ${order.status}${order.rejectionReason ? ` (${order.rejectionReason})` : ''}` +
        (saga ? `, saga at ${STEP_NAMES[saga.step] ?? saga.step}` : ''),
    ),
  );
}

async function watchOrder(orderId) {
  watch?.abort();
  const abort = new AbortController();
  watch = abort;
  $('progress-log').replaceChildren();
  try {
    const headers = { accept: 'text/event-stream' };
    if (session) headers.authorization = `Bearer ${session.token}`;
    const res = await fetch(`/v1/orders/${encodeURIComponent(orderId)}/events`, {
      headers,
      signal: abort.signal,
    });
    if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => null));
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const event = /^event: (.*)$/m.exec(frame)?.[1] ?? 'message';
        const data = frame
          .split('\n')
          .filter((l) => l.startsWith('data: '))
          .map((l) => l.slice(6))
          .join('\n');
        if (event === 'order') {
          const e = JSON.parse(data);
          showEvent(e);
          // Approved and its stock committed: the saga has done its work; the page stops listening (a later cancel
          // shows on reload).
          if (e.order.status === 'APPROVED' && (!e.saga || e.saga.step === 'DONE')) {
            abort.abort();
            void loadHistory();
            return;
          }
        } else if (event === 'end') void loadHistory();
        else if (event === 'error')
          notify(`Watching the order failed: ${JSON.parse(data).detail ?? 'error'}`);
      }
    }
  } catch (err) {
    if (!abort.signal.aborted) notify(`Watching order ${orderId} failed: ${err.message}`);
  }
}

// ---- order history (the caller's; an operator's: every customer's, or one) ----
async function loadHistory(cursor = null) {
  const table = $('orders');
  if (!signedIn()) {
    table.hidden = true;
    $('history-status').textContent = 'Sign in to see your orders.';
    return;
  }
  const q = new URLSearchParams({ limit: String(PAGE_SIZE) });
  // An operator may list every customer's orders (no customerId); an open edge lists the typed customer's.
  const customer =
    (isOperator() ? $('history-customer').value.trim() : '') || (session && isOperator() ? '' : customerId());
  if (customer) q.set('customerId', customer);
  if (cursor) q.set('cursor', cursor);
  try {
    const { data } = await api(`/v1/orders?${q}`);
    page = { cursor: data.nextCursor, customer };
    $('history-status').textContent = data.items.length
      ? `${data.items.length} ${data.items.length === 1 ? 'order' : 'orders'}${cursor ? ' (a later page)' : ''}${isOperator() && !customer ? ', every customer' : ''}.`
      : 'No orders yet.';
    table.hidden = data.items.length === 0;
    table.tBodies[0].replaceChildren(
      ...data.items.map((o) =>
        el(
          'tr',
          { 'data-order': o.id },
          el(
            'th',
            { scope: 'row' },
            el('code', {}, o.id.slice(0, 8)),
            el('span', { class: 'visually-hidden' }, o.id.slice(8)),
          ),
          el('td', {}, o.customerId),
          el(
            'td',
            {},
            el(
              'span',
              { class: `state state-${o.status}` },
              o.status + (o.rejectionReason ? ` (${o.rejectionReason})` : ''),
            ),
          ),
          el('td', {}, money(o.totalCents, o.currency)),
          el('td', {}, when(o.createdAt)),
          el(
            'td',
            {},
            el(
              'button',
              { type: 'button', 'aria-label': `Watch order ${o.id}`, onclick: () => watchOrder(o.id) },
              'Watch',
            ),
            ' ',
            o.status === 'PENDING' || o.status === 'APPROVED'
              ? el(
                  'button',
                  { type: 'button', 'aria-label': `Cancel order ${o.id}`, onclick: () => cancelOrder(o.id) },
                  'Cancel',
                )
              : null,
            ' ',
            orderLinks(o),
          ),
        ),
      ),
    );
    $('history-next').hidden = !data.nextCursor;
    $('history-first').hidden = !cursor;
  } catch (err) {
    table.hidden = true;
    $('history-status').textContent = `The orders could not be loaded: ${err.message}`;
  }
}

async function cancelOrder(id) {
  try {
    await api(`/v1/orders/${id}/cancel`, { method: 'POST', body: {} });
    void loadHistory();
  } catch (err) {
    notify(`Order ${id} was not cancelled: ${err.message}`);
  }
}

// ---- operator views ----
let faultCatalogue = [];
async function loadFaults() {
  const box = $('faults');
  try {
    const { data } = await api('/v1/admin/faults');
    faultCatalogue = data.items;
    if (data.items.length === 0) {
      box.replaceChildren(el('p', {}, 'No service fault admin API is configured (FAULT_ADMIN_URLS).'));
    } else {
      box.replaceChildren(
        el(
          'table',
          { id: 'faults-table' },
          el('caption', { class: 'visually-hidden' }, 'Active faults by service'),
          el(
            'thead',
            {},
            el('tr', {}, el('th', { scope: 'col' }, 'Service'), el('th', { scope: 'col' }, 'Active faults')),
          ),
          el(
            'tbody',
            {},
            ...data.items.map((s) =>
              el(
                'tr',
                { 'data-service': s.service },
                el('th', { scope: 'row' }, s.service),
                el(
                  'td',
                  {},
                  !s.reachable
                    ? `admin API not reachable: ${s.error ?? ''}`
                    : s.active.length === 0
                      ? 'none'
                      : el(
                          'ul',
                          {},
                          ...s.active.map((f) =>
                            el(
                              'li',
                              { 'data-fault': f.name },
                              `${f.name} ${JSON.stringify(f.params ?? f.parameters ?? {})} `,
                              el(
                                'button',
                                {
                                  type: 'button',
                                  'aria-label': `Switch off ${f.name} in ${s.service}`,
                                  onclick: () => switchFault('DELETE', s.service, f.name),
                                },
                                'Switch off',
                              ),
                            ),
                          ),
                        ),
                ),
              ),
            ),
          ),
        ),
      );
    }
    const select = $('fault-service');
    const was = select.value;
    select.replaceChildren(
      ...data.items.filter((s) => s.reachable).map((s) => el('option', { value: s.service }, s.service)),
    );
    if (was) select.value = was;
    fillFaultNames();
  } catch (err) {
    box.replaceChildren(el('p', {}, `Faults could not be loaded: ${err.message}`));
  }
}

function fillFaultNames() {
  const s = faultCatalogue.find((x) => x.service === $('fault-service').value);
  const select = $('fault-name');
  const was = select.value;
  select.replaceChildren(...(s?.available ?? []).map((f) => el('option', { value: f.name }, f.name)));
  if (was && s?.available.some((f) => f.name === was)) select.value = was;
  const f = s?.available.find((x) => x.name === select.value);
  $('fault-description').textContent = f
    ? `${f.description}${f.parameters?.length ? ` Parameters: ${f.parameters.join(', ')}.` : ''}`
    : '';
}

async function switchFault(method, service, name, params) {
  notify('');
  try {
    await api(`/v1/admin/faults/${encodeURIComponent(service)}/${encodeURIComponent(name)}`, {
      method,
      ...(params ? { body: params } : {}),
    });
  } catch (err) {
    notify(
      `${method === 'PUT' ? 'Switching on' : 'Switching off'} ${name} in ${service} failed: ${err.message}`,
    );
  }
  await loadFaults();
}

async function loadLabs() {
  try {
    const { data } = await api('/v1/admin/labs');
    const l = data.current;
    $('labs').replaceChildren(
      l
        ? el(
            'div',
            { 'data-lab': l.lab },
            el(
              'p',
              {},
              el('strong', {}, l.title),
              ` (${l.lab}): ${l.state}, phase ${l.phase}, since ${when(l.startedAt)}`,
            ),
            el(
              'ol',
              { 'aria-label': 'Phases' },
              ...l.phases.map((p) =>
                el(
                  'li',
                  { class: `state state-${p.ok === null ? 'in-progress' : p.ok ? 'done' : 'failed'}` },
                  `${p.phase}: ${p.ok === null ? 'running' : p.ok ? 'ok' : 'missed'}${p.ms !== null ? ` (${(p.ms / 1000).toFixed(1)} s)` : ''}`,
                ),
              ),
            ),
          )
        : el('p', {}, 'No lab has reported.'),
    );
  } catch (err) {
    $('labs').replaceChildren(el('p', {}, `Labs could not be loaded: ${err.message}`));
  }
}

async function loadSagas() {
  try {
    const { data } = await api('/v1/admin/sagas/parked');
    $('sagas').replaceChildren(
      data.items.length === 0
        ? el('p', {}, 'No parked or failing sagas.')
        : el(
            'table',
            {},
            el('caption', { class: 'visually-hidden' }, 'Parked sagas, oldest first'),
            el(
              'thead',
              {},
              el(
                'tr',
                {},
                ...['Order', 'Status', 'Step', 'Pending', 'Sends', 'Parked since'].map((h) =>
                  el('th', { scope: 'col' }, h),
                ),
              ),
            ),
            el(
              'tbody',
              {},
              ...data.items.map((s) =>
                el(
                  'tr',
                  {},
                  el('th', { scope: 'row' }, el('code', {}, s.orderId)),
                  el('td', {}, s.orderStatus),
                  el('td', {}, s.step),
                  el('td', {}, s.pending.join(', ') || '-'),
                  el('td', {}, String(s.sends)),
                  el('td', {}, s.parked ? when(s.parkedAt) : `not parked; sweep failed ${s.sweepFailures}×`),
                ),
              ),
            ),
          ),
      el(
        'p',
        { class: 'hint' },
        'Re-send or un-park with npm run sagas -- resend|unpark <orderId> (docs/runbooks/parked-sagas.md).',
      ),
    );
  } catch (err) {
    $('sagas').replaceChildren(el('p', {}, `Parked sagas could not be loaded: ${err.message}`));
  }
}

function loadOperator() {
  if (!isOperator()) return;
  void loadFaults();
  void loadLabs();
  void loadSagas();
}

// ---- the page ----
function render() {
  const who = $('who');
  if (openMode()) who.textContent = 'Open edge: no sign-in (AUTH_MODE=open).';
  else if (session)
    who.textContent = `Signed in as ${session.customerId}${isOperator() ? ' (operator)' : ''}.`;
  else who.textContent = 'Not signed in.';
  $('sign-in').hidden = openMode() || session !== null || !config.issuer;
  $('sign-out').hidden = openMode() || session === null;
  $('open-mode').hidden = !openMode();
  for (const e of document.querySelectorAll('.operator-only')) e.hidden = !isOperator();
  renderCart();
}

async function main() {
  try {
    config = await (await fetch('/console/config.json')).json();
  } catch {
    notify('The console configuration could not be loaded.');
  }
  if (location.pathname === '/auth/callback') {
    try {
      await completeSignIn(config);
    } catch (err) {
      notify(err.message);
    }
    window.history.replaceState(null, '', '/');
  }
  session = openMode() ? null : currentSession();
  render();
  $('sign-in').addEventListener('click', () =>
    signIn(config).catch((err) => notify(`Sign-in failed: ${err.message}`)),
  );
  $('sign-out').addEventListener('click', () => {
    signOut();
    session = null;
    watch?.abort();
    $('progress-view').hidden = true;
    $('progress-idle').hidden = false;
    render();
    void loadHistory();
    $('sign-in').focus();
  });
  $('cart').addEventListener('submit', placeOrder);
  $('open-customer').addEventListener('change', () => void loadHistory());
  $('history-next').addEventListener('click', () => void loadHistory(page.cursor));
  $('history-first').addEventListener('click', () => void loadHistory());
  $('history-apply').addEventListener('click', () => void loadHistory());
  $('fault-service').addEventListener('change', fillFaultNames);
  $('fault-name').addEventListener('change', fillFaultNames);
  $('operator-refresh').addEventListener('click', loadOperator);
  $('fault-form').addEventListener('submit', (event) => {
    event.preventDefault();
    let params;
    try {
      params = JSON.parse($('fault-params').value.trim() || '{}');
      if (typeof params !== 'object' || params === null || Array.isArray(params))
        throw new Error('not an object');
    } catch {
      notify('Parameters: must be a JSON object, for example {} or {"probability": 0.5}.');
      $('fault-params').focus();
      return;
    }
    void switchFault('PUT', $('fault-service').value, $('fault-name').value, params);
  });
  await loadProducts();
  await loadHistory();
  loadOperator();
  document.body.dataset.ready = 'true';
}

void main();
