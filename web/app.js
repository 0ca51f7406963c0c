// Switchboard console: plain ES module, no build step. Talks to /graphql (HTTP and WebSocket).

const EVENTS = [
  'conversation_created', 'conversation_updated', 'conversation_status_changed',
  'message_created', 'message_updated', 'contact_created', 'contact_updated',
  'webwidget_triggered', 'whatsapp', 'builder', 'online',
];
const FORMATS = ['STANDARD', 'CHATWOOT', 'FLAT_MESSAGE', 'NEW_MESSAGE', 'PARTNER'];
const STATUSES = ['PENDING', 'SUCCEEDED', 'RETRYING', 'FAILED', 'CANCELLED'];

const app = document.getElementById('app');
const nav = document.getElementById('nav');
const accountSelect = document.getElementById('account');
let token = localStorage.getItem('sb_token');
let accountId = localStorage.getItem('sb_account');
let cleanup = () => {};
let here = () => false;

// ---------- tiny helpers ----------

/** Builds an element: h('button', {class: 'x', onclick}, 'text', child…). Text is never HTML. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function render(...nodes) {
  app.replaceChildren(...nodes.flat().filter((n) => n !== null && n !== undefined && n !== false));
}

function badge(text) {
  return h('span', { class: `badge ${text}` }, text);
}

function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return d.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' });
}

class GqlError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

async function gql(query, variables = {}) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  let r;
  try {
    r = await fetch('/graphql', { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  } catch (e) {
    throw new GqlError('The server cannot be reached. Is it running?', 'NETWORK');
  }
  const body = await r.json().catch(() => ({ errors: [{ message: `HTTP ${r.status}` }] }));
  if (body.errors && body.errors.length) {
    const e = body.errors[0];
    const code = e.extensions && e.extensions.code;
    if (code === 'UNAUTHENTICATED' && token) {
      logout('Your session ended; log in again.');
    }
    throw new GqlError(e.message, code);
  }
  return body.data;
}

/** A form whose submit runs `action(values)`; shows userErrors by field, and other errors on top. */
function form(fields, submitLabel, action, extra = []) {
  const banner = h('div', { class: 'banner error', role: 'alert', hidden: true });
  const el = h('form', { novalidate: true }, banner, ...fields, ...extra,
    h('div', { class: 'row', style: 'margin-top:.75rem' }, h('button', { type: 'submit' }, submitLabel)));
  el.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const button = el.querySelector('button[type=submit]');
    el.querySelectorAll('.field-error').forEach((x) => x.remove());
    banner.hidden = true;
    button.disabled = true;
    try {
      const userErrors = await action(new FormData(el), el);
      for (const ue of userErrors || []) {
        const name = (ue.field || []).filter((f) => f !== 'input').join('.');
        const input = el.querySelector(`[name="${CSS.escape(name)}"]`) || el.querySelector(`[name="${CSS.escape(name.split('.')[0])}"]`);
        const note = h('div', { class: 'field-error' }, ue.message);
        const holder = input && input.closest('.field');
        if (holder) holder.append(note);
        else if (input) input.after(note);
        else { banner.hidden = false; banner.textContent = `${name ? name + ': ' : ''}${ue.message}`; }
      }
    } catch (e) {
      banner.hidden = false;
      banner.textContent = e.message;
    } finally {
      button.disabled = false;
    }
  });
  return el;
}

function field(label, input) {
  return h('div', { class: 'field' }, h('label', { for: input.id || undefined }, label), input);
}

function input(name, attrs = {}) {
  return h('input', { name, id: `f-${name}`, ...attrs });
}

function select(name, options, value, attrs = {}) {
  return h('select', { name, id: `f-${name}`, ...attrs },
    options.map((o) => {
      const [v, label] = Array.isArray(o) ? o : [o, o];
      return h('option', { value: v, selected: v === value }, label);
    }));
}

function errorBox(e) {
  return h('div', { class: 'banner error', role: 'alert' }, e.message || String(e));
}

function secretOnce(label, secret) {
  return h('div', { class: 'card' }, h('strong', {}, label), h('p', { class: 'muted' }, 'Shown once: copy it now.'),
    h('div', { class: 'secret' }, secret));
}

// ---------- live delivery log over graphql-transport-ws ----------

function liveSubscribe(query, variables, onData, onState) {
  let ws;
  let closed = false;
  let retry;
  const open = () => {
    const proto = location.protocol === 'https:' ? 'wss' : 'ws';
    ws = new WebSocket(`${proto}://${location.host}/graphql`, 'graphql-transport-ws');
    ws.onopen = () => ws.send(JSON.stringify({ type: 'connection_init', payload: { Authorization: `Bearer ${token}` } }));
    ws.onmessage = (m) => {
      const msg = JSON.parse(m.data);
      if (msg.type === 'connection_ack') {
        ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query, variables } }));
        onState(true);
      } else if (msg.type === 'next' && msg.payload.data) {
        onData(msg.payload.data);
      } else if (msg.type === 'ping') {
        ws.send(JSON.stringify({ type: 'pong' }));
      }
    };
    ws.onclose = () => {
      onState(false);
      if (!closed) retry = setTimeout(open, 2000);
    };
  };
  open();
  return () => {
    closed = true;
    clearTimeout(retry);
    ws && ws.close();
  };
}

// ---------- session ----------

function logout(message) {
  token = null;
  localStorage.removeItem('sb_token');
  nav.hidden = true;
  location.hash = '#/login';
  if (message) sessionStorage.setItem('sb_flash', message);
  route();
}

document.getElementById('logout').addEventListener('click', () => logout());

function signedIn(t) {
  token = t;
  localStorage.setItem('sb_token', t);
  location.hash = '#/deliveries';
  route();
}

async function firstRun() {
  const hint = document.getElementById('first-run-hint').content.cloneNode(true);
  render(h('div', { class: 'card narrow' },
    h('h1', {}, 'Welcome to Switchboard'),
    h('p', {}, 'No administrator exists yet. Create the first platform administrator:'),
    form([
      field('Name', input('name', { autocomplete: 'name' })),
      field('Email', input('email', { type: 'email', autocomplete: 'username', required: true })),
      field('Password (at least 8 characters)', input('password', { type: 'password', autocomplete: 'new-password', required: true })),
    ], 'Create administrator', async (fd) => {
      const d = await gql('mutation($i:FirstAdminCreateInput!){ firstAdminCreate(input:$i){ token } }', {
        i: { email: fd.get('email'), password: fd.get('password'), name: fd.get('name') || null },
      });
      signedIn(d.firstAdminCreate.token);
    }),
    hint));
}

function login() {
  const flash = sessionStorage.getItem('sb_flash');
  sessionStorage.removeItem('sb_flash');
  render(h('div', { class: 'card narrow' },
    h('h1', {}, 'Log in'),
    flash && h('div', { class: 'banner error' }, flash),
    form([
      field('Email', input('email', { type: 'email', autocomplete: 'username', required: true })),
      field('Password', input('password', { type: 'password', autocomplete: 'current-password', required: true })),
    ], 'Log in', async (fd) => {
      const d = await gql('mutation($e:String!,$p:String!){ login(email:$e, password:$p){ token } }', {
        e: fd.get('email'), p: fd.get('password'),
      });
      signedIn(d.login.token);
    })));
}

async function loadAccounts() {
  const d = await gql('{ accounts(first:100){ edges{ node{ id name } } } }');
  const accounts = d.accounts.edges.map((e) => e.node);
  if (!accounts.find((a) => a.id === accountId)) accountId = accounts[0] ? accounts[0].id : null;
  if (accountId) localStorage.setItem('sb_account', accountId);
  accountSelect.replaceChildren(...accounts.map((a) => h('option', { value: a.id, selected: a.id === accountId }, a.name)));
  return accounts;
}

accountSelect.addEventListener('change', () => {
  accountId = accountSelect.value;
  localStorage.setItem('sb_account', accountId);
  route();
});

function noAccount() {
  render(h('div', { class: 'card narrow' }, h('h1', {}, 'Create an account'),
    h('p', { class: 'muted' }, 'Accounts hold channels, inboxes, contacts, conversations and webhooks.'),
    form([field('Name', input('name', { required: true }))], 'Create account', async (fd) => {
      const d = await gql('mutation($n:String!){ accountCreate(input:{name:$n}){ account{ id } userErrors{ field message } } }', { n: fd.get('name') });
      if (d.accountCreate.userErrors.length) return d.accountCreate.userErrors;
      accountId = d.accountCreate.account.id;
      localStorage.setItem('sb_account', accountId);
      route();
    })));
}

// ---------- webhook subscriptions ----------

const SUBS = `query($a:ID!){ account(id:$a){
  webhookSubscriptions(first:100){ edges{ node{ id name url format events state stateReason lastError isChannelWebhook } } }
  channels(first:100){ edges{ node{ id name } } }
  inboxes(first:100){ edges{ node{ id name } } } } }`;

const SUB_DETAIL = `query($i:ID!){ node(id:$i){ ... on WebhookSubscription { id accountId name url format events state isChannelWebhook
  channel{ id } inbox{ id } headers{ name value } hasBearerToken basicAuthUsername } } }`;

/** "Name: value" lines ⇄ [{name, value}]. */
function headerLines(text) {
  return (text || '').split('\n').map((l) => l.trim()).filter(Boolean).map((l) => {
    const i = l.indexOf(':');
    return i < 0 ? { name: l, value: '' } : { name: l.slice(0, i).trim(), value: l.slice(i + 1).trim() };
  });
}

/** The create/edit form of a subscription; `s` is the existing one when editing. */
function subscriptionForm(s, chans, inboxes, done) {
  const auth = s ? (s.hasBearerToken ? 'keep' : s.basicAuthUsername ? 'keep' : 'none') : 'none';
  const authFields = h('div', {});
  const authSelect = select('auth', [
    ...(s && (s.hasBearerToken || s.basicAuthUsername) ? [['keep', `keep current (${s.hasBearerToken ? 'bearer token' : 'basic auth as ' + s.basicAuthUsername})`]] : []),
    ['none', 'none'], ['bearer', 'bearer token'], ['basic', 'basic auth'],
  ], auth, { onchange: () => showAuth() });
  const showAuth = () => {
    const v = authSelect.value;
    authFields.replaceChildren(...[
      v === 'bearer' && field('Bearer token (sent as Authorization: Bearer …)', input('bearerToken', { type: 'password', autocomplete: 'off', required: true })),
      v === 'basic' && field('Username', input('basicUser', { autocomplete: 'off', required: true })),
      v === 'basic' && field('Password', input('basicPassword', { type: 'password', autocomplete: 'off', required: true })),
    ].filter(Boolean));
  };
  showAuth();
  const chosen = new Set(s ? s.events : []);
  return form([
    field('URL', input('url', { type: 'url', placeholder: 'https://example.com/webhooks', required: true, value: s ? s.url : undefined })),
    field('Name', input('name', { placeholder: 'optional', value: s ? s.name : undefined })),
    field('Format', select('format', FORMATS, s ? s.format : 'STANDARD')),
    h('fieldset', { class: 'field' }, h('legend', {}, 'Events'),
      h('div', { class: 'checks', id: 'f-events' }, EVENTS.map((e) => h('label', {}, h('input', { type: 'checkbox', name: 'events', value: e, checked: chosen.has(e) }), e)))),
    h('div', { class: 'split' },
      field('Only events of channel', select('channelId', [['', 'any channel'], ...chans.map((c) => [c.id, c.name])], s && s.channel ? s.channel.id : '')),
      field('Only events of inbox', select('inboxId', [['', 'any inbox'], ...inboxes.map((i) => [i.id, i.name])], s && s.inbox ? s.inbox.id : ''))),
    field('Extra headers (one "Name: value" per line)', h('textarea', { name: 'headers', id: 'f-headers', rows: 2 },
      s ? s.headers.map((x) => `${x.name}: ${x.value}`).join('\n') : '')),
    field('Authentication', authSelect),
    authFields,
  ], s ? 'Save changes' : 'Create subscription', async (fd) => {
    const i = {
      url: fd.get('url'), name: fd.get('name') || (s ? s.name : null), format: fd.get('format'), events: fd.getAll('events'),
      channelId: fd.get('channelId') || null, inboxId: fd.get('inboxId') || null, headers: headerLines(fd.get('headers')),
    };
    const a = fd.get('auth');
    if (a === 'bearer') Object.assign(i, { bearerToken: fd.get('bearerToken'), basicAuth: null });
    if (a === 'basic') Object.assign(i, { basicAuth: { username: fd.get('basicUser'), password: fd.get('basicPassword') }, bearerToken: null });
    if (a === 'none') Object.assign(i, { bearerToken: null, basicAuth: null });
    if (s) {
      const d = await gql('mutation($i:WebhookSubscriptionUpdateInput!){ webhookSubscriptionUpdate(input:$i){ webhookSubscription{ id } userErrors{ field message } } }', { i: { id: s.id, ...i } });
      if (d.webhookSubscriptionUpdate.userErrors.length) return d.webhookSubscriptionUpdate.userErrors;
      return done();
    }
    if (a === 'none') { delete i.bearerToken; delete i.basicAuth; }
    const d = await gql('mutation($i:WebhookSubscriptionCreateInput!){ webhookSubscriptionCreate(input:$i){ secret webhookSubscription{ id } userErrors{ field message } } }', {
      i: { accountId, ...i },
    });
    const p = d.webhookSubscriptionCreate;
    if (p.userErrors.length) return p.userErrors;
    return done(p.secret);
  });
}

async function subscriptions() {
  const d = await gql(SUBS, { a: accountId });
  const subs = d.account.webhookSubscriptions.edges.map((e) => e.node);
  const chans = d.account.channels.edges.map((e) => e.node);
  const inboxes = d.account.inboxes.edges.map((e) => e.node);
  const out = h('div', {});
  const act = async (fn) => {
    try { await fn(); } catch (e) { out.prepend(errorBox(e)); return; }
    route();
  };
  const rows = subs.map((s) => h('tr', {},
    h('td', {}, h('strong', {}, s.name), h('div', { class: 'muted' }, s.url)),
    h('td', { class: 'opt' }, s.format),
    h('td', { class: 'opt' }, s.events.join(', ')),
    h('td', {}, badge(s.state), s.stateReason && h('div', { class: 'muted' }, s.stateReason), s.lastError && h('div', { class: 'error' }, s.lastError)),
    h('td', {}, h('div', { class: 'row' },
      s.state === 'ENABLED'
        ? h('button', { class: 'secondary', onclick: () => act(() => setState(s.id, 'PAUSED')) }, 'Pause')
        : h('button', { class: 'secondary', onclick: () => act(() => setState(s.id, 'ENABLED')) }, 'Resume'),
      s.isChannelWebhook ? null : h('a', { class: 'button secondary', href: `#/subscription/${encodeURIComponent(s.id)}` }, 'Edit'),
      h('button', { class: 'secondary', onclick: () => sendTest(s, out) }, 'Send test'),
      h('button', { class: 'secondary', onclick: () => rotate(s, out) }, 'Rotate secret'),
      h('button', { class: 'danger', onclick: () => confirm(`Delete ${s.name} and its delivery log?`) && act(() => gql('mutation($i:ID!){ webhookSubscriptionDelete(input:{id:$i}){ deletedId userErrors{ message } } }', { i: s.id })) }, 'Delete')))));
  out.append(
    h('h1', {}, 'Webhook subscriptions'),
    subs.length ? h('table', { id: 'subscriptions' }, h('thead', {}, h('tr', {}, h('th', {}, 'Destination'), h('th', { class: 'opt' }, 'Format'), h('th', { class: 'opt' }, 'Events'), h('th', {}, 'State'), h('th', {}, ''))), h('tbody', {}, rows))
      : h('p', { class: 'muted' }, 'No subscriptions yet. Create one below.'),
    h('h2', {}, 'New subscription'),
    h('div', { class: 'card' }, subscriptionForm(null, chans, inboxes, async (secret) => {
      await subscriptions();
      app.prepend(secretOnce('Signing secret of the new subscription', secret));
    })));
  render(out);
}

async function subscriptionDetail(id) {
  const d = await gql(SUB_DETAIL, { i: id });
  const s = d.node;
  if (!s) { render(h('p', {}, 'Subscription not found.')); return; }
  const lists = await gql('query($a:ID!){ account(id:$a){ channels(first:100){ edges{ node{ id name } } } inboxes(first:100){ edges{ node{ id name } } } } }', { a: s.accountId });
  render(h('p', {}, h('a', { href: '#/subscriptions' }, '← Webhook subscriptions')),
    h('h1', {}, `Edit ${s.name} `, badge(s.state)),
    h('div', { class: 'card' }, subscriptionForm(s, lists.account.channels.edges.map((e) => e.node), lists.account.inboxes.edges.map((e) => e.node), async () => {
      await subscriptionDetail(id);
      app.prepend(h('div', { class: 'banner ok', role: 'status' }, 'Saved.'));
    })));
}

function setState(id, state) {
  return gql('mutation($i:ID!,$s:SubscriptionState){ webhookSubscriptionUpdate(input:{id:$i, state:$s}){ userErrors{ message } } }', { i: id, s: state })
    .then((d) => { if (d.webhookSubscriptionUpdate.userErrors.length) throw new Error(d.webhookSubscriptionUpdate.userErrors[0].message); });
}

async function sendTest(s, out) {
  try {
    const d = await gql('mutation($i:ID!){ webhookSubscriptionTest(input:{id:$i}){ deliveryAttempt{ responseStatus errorKind errorMessage durationMs } userErrors{ message } } }', { i: s.id });
    const a = d.webhookSubscriptionTest.deliveryAttempt;
    out.prepend(h('div', { class: `banner ${a && a.responseStatus >= 200 && a.responseStatus < 300 ? 'ok' : 'error'}` },
      a ? `Test ping to ${s.name}: ${a.responseStatus ? 'HTTP ' + a.responseStatus : a.errorKind + ' ' + (a.errorMessage || '')} in ${a.durationMs} ms`
        : d.webhookSubscriptionTest.userErrors.map((u) => u.message).join('; ')));
  } catch (e) { out.prepend(errorBox(e)); }
}

async function rotate(s, out) {
  if (!confirm(`Rotate the signing secret of ${s.name}? The old one keeps working for 24 hours.`)) return;
  try {
    const d = await gql('mutation($i:ID!){ webhookSubscriptionRotateSecret(input:{id:$i}){ secret userErrors{ message } } }', { i: s.id });
    out.prepend(secretOnce(`New signing secret of ${s.name}`, d.webhookSubscriptionRotateSecret.secret));
  } catch (e) { out.prepend(errorBox(e)); }
}

// ---------- delivery log ----------

const DELIVERIES = `query($a:ID!,$s:DeliveryStatus,$e:String){ account(id:$a){
  webhookSubscriptions(first:100){ edges{ node{ id name } } }
  deliveries(first:50, newestFirst:true, status:$s, event:$e){ edges{ node{
    id event status attemptCount lastResponseStatus lastError createdAt subscriptionId } } } } }`;

const LIVE = `subscription($f:DeliveryAttemptFilter){ deliveryAttempts(filter:$f){
  id deliveryId subscriptionId attemptNumber url responseStatus durationMs errorKind createdAt
  delivery{ event status attemptCount lastError } } }`;

async function deliveries() {
  const params = new URLSearchParams(location.hash.split('?')[1] || '');
  const status = params.get('status') || null;
  const event = params.get('event') || null;
  const d = await gql(DELIVERIES, { a: accountId, s: status, e: event });
  const subName = Object.fromEntries(d.account.webhookSubscriptions.edges.map((e) => [e.node.id, e.node.name]));
  const dot = h('span', { class: 'live-dot', title: 'live' });
  const liveLabel = h('span', { class: 'muted' }, 'connecting…');
  const tbody = h('tbody', { id: 'delivery-rows' });
  const row = (x, fresh) => h('tr', {
    class: `clickable${fresh ? ' fresh' : ''}`, tabindex: 0, dataset: { delivery: x.deliveryId || x.id },
    onclick: () => { location.hash = `#/delivery/${encodeURIComponent(x.deliveryId || x.id)}`; },
    onkeydown: (ev) => { if (ev.key === 'Enter') location.hash = `#/delivery/${encodeURIComponent(x.deliveryId || x.id)}`; },
  },
  h('td', {}, when(x.createdAt)),
  h('td', {}, x.event || (x.attemptNumber ? `attempt ${x.attemptNumber}` : '')),
  h('td', { class: 'opt' }, subName[x.subscriptionId] || ''),
  h('td', {}, x.status ? badge(x.status) : (x.responseStatus >= 200 && x.responseStatus < 300 ? badge('SUCCEEDED') : badge(x.errorKind || 'FAILED'))),
  h('td', {}, x.lastResponseStatus ?? x.responseStatus ?? ''),
  h('td', { class: 'opt muted' }, x.lastError || (x.durationMs !== undefined ? `${x.durationMs} ms` : '')));
  for (const e of d.account.deliveries.edges) tbody.append(row(e.node, false));
  const filters = h('form', { class: 'row', onsubmit: (ev) => {
    ev.preventDefault();
    const fd = new FormData(ev.target);
    const q = new URLSearchParams();
    if (fd.get('status')) q.set('status', fd.get('status'));
    if (fd.get('event')) q.set('event', fd.get('event'));
    location.hash = `#/deliveries${q.toString() ? '?' + q : ''}`;
  } },
  select('status', [['', 'any status'], ...STATUSES], status || ''),
  select('event', [['', 'any event'], ...EVENTS, 'bot_call', 'webhook_test'], event || ''),
  h('button', { type: 'submit', class: 'secondary' }, 'Filter'));
  const recover = h('form', { class: 'row', onsubmit: async (ev) => {
    ev.preventDefault();
    const fd = new FormData(ev.target);
    const since = new Date(fd.get('since')).toISOString();
    if (!confirm(`Queue again every FAILED delivery of ${subName[fd.get('sub')]} since ${when(since)}?`)) return;
    try {
      const r = await gql('mutation($i:ID!,$s:DateTime!){ webhookSubscriptionRecover(input:{id:$i, since:$s}){ userErrors{ message } } }', { i: fd.get('sub'), s: since });
      const errs = r.webhookSubscriptionRecover.userErrors;
      app.prepend(h('div', { class: `banner ${errs.length ? 'error' : 'ok'}` }, errs.length ? errs[0].message : 'Failed deliveries queued again.'));
    } catch (e) { app.prepend(errorBox(e)); }
  } },
  select('sub', Object.entries(subName).map(([id, n]) => [id, n])),
  h('input', { type: 'datetime-local', name: 'since', required: true, 'aria-label': 'since' }),
  h('button', { type: 'submit', class: 'secondary' }, 'Recover failed since'));
  const stats = statsPanel(subName);
  render(h('h1', {}, 'Delivery log ', dot, liveLabel), stats.panel, filters,
    Object.keys(subName).length ? recover : null,
    h('table', { style: 'margin-top:.75rem' }, h('thead', {}, h('tr', {}, h('th', {}, 'Time'), h('th', {}, 'Event'), h('th', { class: 'opt' }, 'Subscription'), h('th', {}, 'Status'), h('th', {}, 'HTTP'), h('th', { class: 'opt' }, 'Detail'))), tbody),
    d.account.deliveries.edges.length ? null : h('p', { class: 'muted', id: 'empty' }, 'No deliveries yet. They appear here live as events happen.'));
  const filter = { accountId };
  if (status) filter.status = status;
  if (event) filter.event = event;
  const unsubscribe = liveSubscribe(LIVE, { f: filter }, (data) => {
    stats.poke();
    const a = data.deliveryAttempts;
    const d = a.delivery || {};
    document.getElementById('empty')?.remove();
    // One row per delivery: a new attempt replaces the delivery's row.
    tbody.querySelector(`tr[data-delivery="${CSS.escape(a.deliveryId)}"]`)?.remove();
    const tr = row({ ...a, event: d.event, status: d.status, lastError: d.lastError, lastResponseStatus: a.responseStatus }, true);
    tbody.prepend(tr);
    // When the row was first painted, next to when the attempt was logged (the same clock on
    // one machine): the browser test reads these to measure "logged → visible".
    tr.dataset.loggedAt = a.createdAt;
    requestAnimationFrame(() => { tr.dataset.shownAt = new Date().toISOString(); });
    while (tbody.children.length > 200) tbody.lastChild.remove();
  }, (on) => {
    dot.classList.toggle('on', on);
    liveLabel.textContent = on ? 'live' : 'reconnecting…';
  });
  cleanup = () => { unsubscribe(); stats.stop(); };
}

// ---------- charts (inline SVG, no library) ----------

const SVGNS = 'http://www.w3.org/2000/svg';

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) el.setAttribute(k, v);
  for (const c of children.flat()) if (c) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

const W = 720;
const H = 150;
const PAD = { l: 44, r: 8, t: 10, b: 22 };

function hhmm(iso) {
  return new Date(iso).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}

/** A round axis maximum at or above `v`. */
function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * p).find((m) => m >= v);
}

function axes(buckets, max, unit) {
  const iw = W - PAD.l - PAD.r;
  const ih = H - PAD.t - PAD.b;
  const g = svg('g', { class: 'axes' });
  for (const f of [0, 0.5, 1]) {
    const y = PAD.t + ih * (1 - f);
    g.append(svg('line', { x1: PAD.l, x2: W - PAD.r, y1: y, y2: y, class: 'grid' }),
      svg('text', { x: PAD.l - 6, y: y + 4, 'text-anchor': 'end' }, `${Math.round(max * f)}${unit}`));
  }
  const n = buckets.length;
  for (const [i, anchor] of [[0, 'start'], [Math.floor(n / 2), 'middle'], [n - 1, 'end']]) {
    if (i < 0 || !buckets[i]) continue;
    const x = anchor === 'start' ? PAD.l : anchor === 'end' ? W - PAD.r : PAD.l + (iw * (i + 0.5)) / n;
    g.append(svg('text', { x, y: H - 6, 'text-anchor': anchor }, hhmm(buckets[i].start)));
  }
  return g;
}

/** Stacked bars of attempts per bucket: succeeded, retrying, failed. */
function outcomeChart(stats) {
  const b = stats.buckets;
  const max = niceMax(Math.max(...b.map((x) => x.attempts)));
  const iw = W - PAD.l - PAD.r;
  const ih = H - PAD.t - PAD.b;
  const bw = iw / Math.max(b.length, 1);
  const bars = svg('g', {});
  b.forEach((x, i) => {
    let y = PAD.t + ih;
    const tip = `${hhmm(x.start)}: ${x.succeeded} succeeded, ${x.retrying} retrying, ${x.failed} failed`;
    for (const k of ['succeeded', 'retrying', 'failed']) {
      if (!x[k]) continue;
      const hgt = (x[k] / max) * ih;
      y -= hgt;
      bars.append(svg('rect', { x: PAD.l + i * bw + bw * 0.1, y, width: Math.max(bw * 0.8, 1), height: hgt, class: k }, svg('title', {}, tip)));
    }
  });
  return svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'Attempts per interval by outcome', class: 'chart-svg', id: 'chart-outcomes' },
    axes(b, max, ''), bars);
}

/** Mean attempt latency per bucket as a line, the maximum as dots. */
function latencyChart(stats) {
  const b = stats.buckets;
  const max = niceMax(Math.max(...b.map((x) => x.latencyMaxMs || 0)));
  const iw = W - PAD.l - PAD.r;
  const ih = H - PAD.t - PAD.b;
  const X = (i) => PAD.l + (iw * (i + 0.5)) / b.length;
  const Y = (v) => PAD.t + ih * (1 - v / max);
  const g = svg('g', {});
  let run = [];
  const flush = () => {
    if (run.length) g.append(svg('polyline', { points: run.join(' '), class: 'avg' }));
    run = [];
  };
  b.forEach((x, i) => {
    if (x.latencyAvgMs === null) { flush(); return; }
    run.push(`${X(i)},${Y(x.latencyAvgMs)}`);
    g.append(svg('circle', { cx: X(i), cy: Y(x.latencyAvgMs), r: 2.5, class: 'avg-dot' }));
    g.append(svg('circle', { cx: X(i), cy: Y(x.latencyMaxMs), r: 2, class: 'max' },
      svg('title', {}, `${hhmm(x.start)}: mean ${x.latencyAvgMs.toFixed(1)} ms, max ${x.latencyMaxMs} ms`)));
  });
  flush();
  return svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'Attempt latency per interval', class: 'chart-svg', id: 'chart-latency' },
    axes(b, max, ' ms'), g);
}

const STATS = `query($a:ID!,$s:ID){ account(id:$a){ deliveryStats(subscriptionId:$s, minutes:60, bucketSeconds:60){
  since until total{ attempts succeeded retrying failed latencyAvgMs latencyMaxMs }
  buckets{ start attempts succeeded retrying failed latencyAvgMs latencyMaxMs } } } }`;

/** The "last hour" panel: overall or one subscription, refreshed every 15 s while shown. */
function statsPanel(subName) {
  const body = h('div', { id: 'stats' }, h('p', { class: 'muted' }, 'Loading charts…'));
  let sub = '';
  let timer;
  const load = async () => {
    clearTimeout(timer);
    try {
      const d = await gql(STATS, { a: accountId, s: sub || null });
      const st = d.account.deliveryStats;
      const t = st.total;
      const pct = t.attempts ? Math.round((100 * t.succeeded) / t.attempts) : 0;
      body.replaceChildren(
        h('p', { class: 'muted', id: 'stats-summary' }, t.attempts
          ? `${t.attempts} attempts in the last hour · ${pct}% succeeded · ${t.retrying} will retry · ${t.failed} failed for good · mean ${t.latencyAvgMs.toFixed(1)} ms · max ${t.latencyMaxMs} ms`
          : 'No attempts in the last hour.'),
        h('div', { class: 'charts' },
          h('figure', {}, h('figcaption', {}, 'Attempts per minute ', h('span', { class: 'key succeeded' }, 'succeeded'), h('span', { class: 'key retrying' }, 'retrying'), h('span', { class: 'key failed' }, 'failed')), outcomeChart(st)),
          h('figure', {}, h('figcaption', {}, 'Attempt latency ', h('span', { class: 'key avg' }, 'mean'), h('span', { class: 'key max' }, 'max')), latencyChart(st))));
    } catch (e) {
      body.replaceChildren(errorBox(e));
    }
    if (body.isConnected) timer = setTimeout(load, 15000);
  };
  const picker = select('stats-sub', [['', 'all subscriptions'], ...Object.entries(subName)], '', {
    'aria-label': 'Charts for', onchange: (ev) => { sub = ev.target.value; load(); },
  });
  const panel = h('section', { class: 'card', 'aria-label': 'Last hour' }, h('div', { class: 'row' }, h('strong', {}, 'Last hour'), picker), body);
  let soon = null;
  load();
  return {
    panel,
    // New attempts arrived: redraw within 2 s (at most one pending redraw).
    poke: () => { if (!soon) soon = setTimeout(() => { soon = null; load(); }, 2000); },
    stop: () => { clearTimeout(timer); clearTimeout(soon); },
  };
}

function headersTable(hs) {
  return h('table', {}, h('tbody', {}, (hs || []).map((x) => h('tr', {}, h('th', {}, x.name), h('td', {}, x.value)))));
}

function pretty(body) {
  if (body === null || body === undefined) return '';
  try { return JSON.stringify(JSON.parse(body), null, 2); } catch { return body; }
}

async function deliveryDetail(id) {
  const route = location.hash;
  here = () => location.hash === route;
  const d = await gql(`query($i:ID!){ node(id:$i){ ... on Delivery { id event status webhookId attemptCount lastError createdAt
    attempts(first:50){ edges{ node{ attemptNumber url requestHeaders{ name value } requestBody responseStatus
      responseHeaders{ name value } responseBody responseTruncated durationMs errorKind errorMessage nextAttemptAt createdAt } } } } } }`, { i: id });
  const x = d.node;
  if (!x) { render(h('p', {}, 'Delivery not found.')); return; }
  const attempts = x.attempts.edges.map((e) => e.node);
  const retry = h('button', { onclick: async () => {
    retry.disabled = true;
    try {
      const r = await gql('mutation($i:ID!){ deliveryRetry(input:{id:$i}){ userErrors{ message } } }', { i: x.id });
      const errs = r.deliveryRetry.userErrors;
      app.prepend(h('div', { class: `banner ${errs.length ? 'error' : 'ok'}` }, errs.length ? errs[0].message : 'Queued for an attempt now.'));
      setTimeout(() => here() && deliveryDetail(id), 800);
    } catch (e) { app.prepend(errorBox(e)); } finally { retry.disabled = false; }
  } }, 'Retry now');
  render(
    h('p', {}, h('a', { href: '#/deliveries' }, '← Delivery log')),
    h('h1', {}, `${x.event} `, badge(x.status)),
    h('p', { class: 'muted' }, `webhook-id ${x.webhookId} · ${x.attemptCount} attempt(s) · created ${when(x.createdAt)}`),
    x.lastError && h('p', { class: 'error' }, x.lastError),
    ['FAILED', 'RETRYING', 'CANCELLED'].includes(x.status) ? retry : null,
    attempts.length ? null : h('p', { class: 'muted' }, 'No attempt yet.'),
    ...attempts.map((a) => h('div', { class: 'card' },
      h('h2', {}, `Attempt ${a.attemptNumber} · ${a.responseStatus ? 'HTTP ' + a.responseStatus : a.errorKind} · ${a.durationMs} ms`),
      h('p', { class: 'muted' }, `${when(a.createdAt)} → ${a.url}`, a.nextAttemptAt ? ` · next attempt ${when(a.nextAttemptAt)}` : ''),
      a.errorMessage && h('p', { class: 'error' }, a.errorMessage),
      h('div', { class: 'split' },
        h('div', {}, h('h3', {}, 'Request'), headersTable(a.requestHeaders), h('pre', {}, pretty(a.requestBody))),
        h('div', {}, h('h3', {}, 'Response'), headersTable(a.responseHeaders), h('pre', {}, pretty(a.responseBody)),
          a.responseTruncated && h('p', { class: 'muted' }, 'Body truncated.'))))));
  // Keep an open delivery current while it is still moving.
  if (['PENDING', 'RETRYING'].includes(x.status)) setTimeout(() => here() && deliveryDetail(id), 1000);
}

// ---------- partners, bots, tokens ----------

async function partners() {
  const d = await gql('query($a:ID!){ account(id:$a){ partners(first:100){ edges{ node{ id name clientId whatsappReference builderReference onlineReference webhookSubscription{ url state } } } } } }', { a: accountId });
  const list = d.account.partners.edges.map((e) => e.node);
  render(h('h1', {}, 'Partners'),
    list.length ? h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Client id'), h('th', { class: 'opt' }, 'References'), h('th', {}, 'Webhook'), h('th', {}, ''))),
      h('tbody', {}, list.map((p) => h('tr', {}, h('td', {}, p.name), h('td', {}, h('code', {}, p.clientId)),
        h('td', { class: 'opt muted' }, [p.whatsappReference, p.builderReference, p.onlineReference].filter(Boolean).join(' · ')),
        h('td', {}, p.webhookSubscription ? [p.webhookSubscription.url, ' ', badge(p.webhookSubscription.state)] : h('span', { class: 'muted' }, 'not set')),
        h('td', {}, h('button', { class: 'danger', onclick: async () => {
          if (!confirm(`Delete partner ${p.name}? Its tokens stop working and its webhook is removed.`)) return;
          await gql('mutation($i:ID!){ partnerDelete(input:{id:$i}){ deletedId } }', { i: p.id });
          route();
        } }, 'Delete'))))))
      : h('p', { class: 'muted' }, 'No partners yet.'),
    h('h2', {}, 'New partner'),
    h('div', { class: 'card' }, form([
      field('Name', input('name', { required: true })),
      field('WhatsApp reference', input('whatsappReference')),
      field('Builder reference', input('builderReference')),
      field('Online reference', input('onlineReference')),
    ], 'Create partner', async (fd) => {
      const r = await gql('mutation($i:PartnerCreateInput!){ partnerCreate(input:$i){ clientSecret partner{ clientId } userErrors{ field message } } }', {
        i: { accountId, name: fd.get('name'), whatsappReference: fd.get('whatsappReference') || null, builderReference: fd.get('builderReference') || null, onlineReference: fd.get('onlineReference') || null },
      });
      const p = r.partnerCreate;
      if (p.userErrors.length) return p.userErrors;
      await partners();
      app.prepend(secretOnce(`Client secret for ${p.partner.clientId}`, p.clientSecret));
    })));
}

async function bots() {
  const d = await gql('query($a:ID!){ account(id:$a){ stories(first:100){ edges{ node{ id name status } } } botConnections(first:100){ edges{ node{ id restId name url error story{ name } } } } } }', { a: accountId });
  const stories = d.account.stories.edges.map((e) => e.node);
  const conns = d.account.botConnections.edges.map((e) => e.node);
  render(h('h1', {}, 'Bot connections'),
    conns.length ? h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Story'), h('th', { class: 'opt' }, 'URL'), h('th', {}, 'Last error'), h('th', {}, ''))),
      h('tbody', {}, conns.map((c) => h('tr', {}, h('td', {}, c.name, h('div', { class: 'muted' }, c.restId)), h('td', {}, c.story ? c.story.name : ''),
        h('td', { class: 'opt' }, c.url), h('td', { class: c.error ? 'error' : 'muted' }, c.error || 'none'),
        h('td', {}, h('button', { class: 'danger', onclick: async () => {
          if (!confirm(`Delete bot connection ${c.name}?`)) return;
          await gql('mutation($i:ID!){ botConnectionDelete(input:{id:$i}){ deletedId } }', { i: c.id });
          route();
        } }, 'Delete'))))))
      : h('p', { class: 'muted' }, 'No bot connections yet.'),
    h('h2', {}, 'New bot connection'),
    stories.length ? h('div', { class: 'card' }, form([
      field('Story', select('storyId', stories.map((s) => [s.id, s.name]))),
      field('Name', input('name', { required: true })),
      field('URL', input('url', { type: 'url', required: true })),
      field('Token (sent as Bearer)', input('token')),
    ], 'Create connection', async (fd) => {
      const r = await gql('mutation($i:BotConnectionCreateInput!){ botConnectionCreate(input:$i){ botConnection{ id } userErrors{ field message } } }', {
        i: { accountId, connection: { storyId: fd.get('storyId'), name: fd.get('name'), url: fd.get('url'), token: fd.get('token') || null } },
      });
      if (r.botConnectionCreate.userErrors.length) return r.botConnectionCreate.userErrors;
      route();
    })) : h('p', { class: 'muted' }, 'Create a story first.'),
    h('h2', {}, 'New story'),
    h('div', { class: 'card' }, form([field('Name', input('name', { required: true }))], 'Create story', async (fd) => {
      const r = await gql('mutation($a:ID!,$n:String!){ storyCreate(input:{accountId:$a, name:$n}){ story{ id } userErrors{ field message } } }', { a: accountId, n: fd.get('name') });
      if (r.storyCreate.userErrors.length) return r.storyCreate.userErrors;
      route();
    })));
}

async function tokens() {
  const d = await gql('query($a:ID!){ account(id:$a){ apiTokens(first:100){ edges{ node{ id name prefix role lastUsedAt revokedAt createdAt } } } } }', { a: accountId });
  const list = d.account.apiTokens.edges.map((e) => e.node);
  render(h('h1', {}, 'API tokens'),
    list.length ? h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Prefix'), h('th', {}, 'Role'), h('th', { class: 'opt' }, 'Last used'), h('th', {}, ''))),
      h('tbody', {}, list.map((t) => h('tr', {}, h('td', {}, t.name), h('td', {}, h('code', {}, t.prefix)), h('td', {}, t.role),
        h('td', { class: 'opt' }, when(t.lastUsedAt) || 'never'),
        h('td', {}, t.revokedAt ? badge('CANCELLED') : h('button', { class: 'danger', onclick: async () => {
          if (!confirm(`Revoke ${t.name}? Scripts using it stop working.`)) return;
          await gql('mutation($i:ID!){ apiTokenRevoke(input:{id:$i}){ apiToken{ id } } }', { i: t.id });
          route();
        } }, 'Revoke'))))))
      : h('p', { class: 'muted' }, 'No API tokens yet.'),
    h('h2', {}, 'New token'),
    h('div', { class: 'card' }, form([
      field('Name', input('name', { required: true })),
      field('Role', select('role', ['ADMINISTRATOR', 'AGENT'], 'ADMINISTRATOR')),
    ], 'Create token', async (fd) => {
      const r = await gql('mutation($a:ID!,$n:String!,$r:Role){ apiTokenCreate(input:{accountId:$a, name:$n, role:$r}){ token userErrors{ field message } } }', { a: accountId, n: fd.get('name'), r: fd.get('role') });
      if (r.apiTokenCreate.userErrors.length) return r.apiTokenCreate.userErrors;
      await tokens();
      app.prepend(secretOnce('New API token', r.apiTokenCreate.token));
    })));
}

// ---------- channels, inboxes, contacts, conversations ----------

const KINDS = ['WHATSAPP', 'WEB_WIDGET', 'API', 'SMS', 'EMAIL', 'MESSENGER', 'TELEGRAM', 'INSTAGRAM', 'LINE', 'OTHER'];

async function channels() {
  const d = await gql(`query($a:ID!){ account(id:$a){
    channels(first:100){ edges{ node{ id kind name phone status webhookUrl dailyLimit } } }
    inboxes(first:100){ edges{ node{ id name channel{ name } botConnection{ name } } } } } }`, { a: accountId });
  const chans = d.account.channels.edges.map((e) => e.node);
  const inboxes = d.account.inboxes.edges.map((e) => e.node);
  const remove = async (what, name, mutation, id) => {
    if (!confirm(`Delete ${what} ${name}? This cannot be undone.`)) return;
    try {
      const r = await gql(`mutation($i:ID!){ ${mutation}(input:{id:$i}){ deletedId userErrors{ message } } }`, { i: id });
      if (r[mutation].userErrors.length) throw new Error(r[mutation].userErrors[0].message);
      route();
    } catch (e) { app.prepend(errorBox(e)); }
  };
  const editRow = (c) => h('tr', { class: 'edit-row', hidden: true }, h('td', { colspan: 5 }, form([
    h('div', { class: 'split' },
      field('Name', input('name', { required: true, value: c.name, id: `f-name-${c.id}` })),
      field('Status', select('status', ['ACTIVE', 'INACTIVE', 'PENDING', 'DISABLED'], c.status, { id: `f-status-${c.id}` })),
      field('Phone', input('phone', { value: c.phone || '', id: `f-phone-${c.id}` })),
      field('Daily limit', input('dailyLimit', { type: 'number', min: 0, value: c.dailyLimit ?? '', id: `f-dailyLimit-${c.id}` }))),
    field('Channel webhook URL (empty: none)', input('webhookUrl', { type: 'url', value: c.webhookUrl || '', id: `f-webhookUrl-${c.id}` })),
  ], 'Save channel', async (fd) => {
    const r = await gql('mutation($i:ChannelUpdateInput!){ channelUpdate(input:$i){ channel{ id } userErrors{ field message } } }', {
      i: { id: c.id, name: fd.get('name'), status: fd.get('status'), phone: fd.get('phone') || null, webhookUrl: fd.get('webhookUrl') || null,
        dailyLimit: fd.get('dailyLimit') === '' ? null : Number(fd.get('dailyLimit')) },
    });
    if (r.channelUpdate.userErrors.length) return r.channelUpdate.userErrors;
    route();
  })));
  render(h('h1', {}, 'Channels and inboxes'),
    chans.length ? h('table', { id: 'channels' }, h('thead', {}, h('tr', {}, h('th', {}, 'Channel'), h('th', {}, 'Kind'), h('th', {}, 'Status'), h('th', { class: 'opt' }, 'Channel webhook URL'), h('th', {}, ''))),
      h('tbody', {}, chans.flatMap((c) => {
        const edit = editRow(c);
        return [h('tr', { dataset: { channel: c.id } }, h('td', {}, c.name, c.phone && h('div', { class: 'muted' }, c.phone)), h('td', {}, c.kind), h('td', {}, badge(c.status)),
          h('td', { class: 'opt' }, c.webhookUrl || h('span', { class: 'muted' }, 'none')),
          h('td', {}, h('div', { class: 'row' },
            h('button', { class: 'secondary', 'aria-expanded': 'false', onclick: (ev) => { edit.hidden = !edit.hidden; ev.target.setAttribute('aria-expanded', String(!edit.hidden)); if (!edit.hidden) edit.querySelector('input').focus(); } }, 'Edit'),
            h('button', { class: 'danger', onclick: () => remove('channel', c.name, 'channelDelete', c.id) }, 'Delete')))), edit];
      })))
      : h('p', { class: 'muted' }, 'No channels yet.'),
    h('h2', {}, 'New channel'),
    h('div', { class: 'card', id: 'new-channel' }, form([
      field('Kind', select('kind', KINDS, 'WHATSAPP')),
      field('Name', input('name', { required: true })),
      field('Phone', input('phone', { placeholder: '+972501234567' })),
      field('Channel webhook URL (receives every event of this channel)', input('webhookUrl', { type: 'url' })),
    ], 'Create channel', async (fd) => {
      const r = await gql('mutation($i:ChannelCreateInput!){ channelCreate(input:$i){ channel{ id } userErrors{ field message } } }', {
        i: { accountId, kind: fd.get('kind'), name: fd.get('name'), phone: fd.get('phone') || null, webhookUrl: fd.get('webhookUrl') || null },
      });
      if (r.channelCreate.userErrors.length) return r.channelCreate.userErrors;
      route();
    })),
    h('h2', {}, 'Inboxes'),
    inboxes.length ? h('table', {}, h('tbody', {}, inboxes.map((i) => h('tr', {}, h('td', {}, i.name), h('td', {}, i.channel ? i.channel.name : ''),
      h('td', { class: 'muted' }, i.botConnection ? `bot: ${i.botConnection.name}` : ''),
      h('td', {}, h('button', { class: 'danger', onclick: () => remove('inbox', i.name, 'inboxDelete', i.id) }, 'Delete'))))))
      : h('p', { class: 'muted' }, 'No inboxes yet.'),
    chans.length ? h('div', { class: 'card' }, form([
      field('Channel', select('channelId', chans.map((c) => [c.id, c.name]))),
      field('Inbox name', input('inboxName', { required: true })),
    ], 'Create inbox', async (fd) => {
      const r = await gql('mutation($a:ID!,$c:ID!,$n:String!){ inboxCreate(input:{accountId:$a, channelId:$c, name:$n}){ inbox{ id } userErrors{ field message } } }', { a: accountId, c: fd.get('channelId'), n: fd.get('inboxName') });
      if (r.inboxCreate.userErrors.length) return r.inboxCreate.userErrors.map((u) => ({ ...u, field: ['inboxName'] }));
      route();
    })) : null);
}

async function contacts() {
  const params = new URLSearchParams(location.hash.split('?')[1] || '');
  const search = params.get('q') || null;
  const after = params.get('after') || null;
  const d = await gql('query($a:ID!,$s:String,$after:String){ account(id:$a){ contacts(first:25, search:$s, after:$after){ edges{ node{ id name phoneNumber email tags{ name } meta{ key value } } } pageInfo{ hasNextPage endCursor } } } }', { a: accountId, s: search, after });
  const c = d.account.contacts;
  render(h('h1', {}, 'Contacts'),
    h('form', { class: 'row', onsubmit: (ev) => { ev.preventDefault(); const q = new FormData(ev.target).get('q'); location.hash = `#/contacts${q ? '?q=' + encodeURIComponent(q) : ''}`; } },
      h('input', { name: 'q', value: search || '', placeholder: 'Search name, phone or email', 'aria-label': 'search' }), h('button', { type: 'submit', class: 'secondary' }, 'Search')),
    c.edges.length ? h('table', { style: 'margin-top:.75rem' }, h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Phone'), h('th', { class: 'opt' }, 'Email'), h('th', { class: 'opt' }, 'Tags and meta'))),
      h('tbody', { id: 'contact-rows' }, c.edges.map(({ node: x }) => h('tr', {
        class: 'clickable', tabindex: 0, onclick: () => { location.hash = `#/contact/${encodeURIComponent(x.id)}`; },
        onkeydown: (ev) => { if (ev.key === 'Enter') location.hash = `#/contact/${encodeURIComponent(x.id)}`; },
      }, h('td', {}, x.name || h('span', { class: 'muted' }, 'unnamed')), h('td', {}, x.phoneNumber || ''), h('td', { class: 'opt' }, x.email || ''),
        h('td', { class: 'opt muted' }, [...x.tags.map((t) => `#${t.name}`), ...x.meta.map((m) => `${m.key}=${m.value}`)].join(' '))))))
      : h('p', { class: 'muted' }, search ? 'No contact matches.' : 'No contacts yet.'),
    c.pageInfo.hasNextPage ? h('p', {}, h('a', { href: `#/contacts?${new URLSearchParams({ ...(search ? { q: search } : {}), after: c.pageInfo.endCursor })}` }, 'Next page →')) : null,
    h('h2', {}, 'New contact'),
    h('div', { class: 'card' }, form([
      field('First name', input('firstName')), field('Last name', input('lastName')),
      field('Phone', input('phoneNumber')), field('Email', input('email', { type: 'email' })),
      field('Tags (comma separated)', input('tags')),
    ], 'Create contact', async (fd) => {
      const tags = (fd.get('tags') || '').split(',').map((t) => t.trim()).filter(Boolean);
      const r = await gql('mutation($i:ContactCreateInput!){ contactCreate(input:$i){ contact{ id } userErrors{ field message } } }', {
        i: { accountId, firstName: fd.get('firstName') || null, lastName: fd.get('lastName') || null, phoneNumber: fd.get('phoneNumber') || null, email: fd.get('email') || null, tags },
      });
      if (r.contactCreate.userErrors.length) return r.contactCreate.userErrors;
      route();
    })));
}

/** "key=value" lines ⇄ [{key, value}]. */
function metaLines(text) {
  return (text || '').split('\n').map((l) => l.trim()).filter(Boolean).map((l) => {
    const i = l.indexOf('=');
    return i < 0 ? { key: l, value: '' } : { key: l.slice(0, i).trim(), value: l.slice(i + 1).trim() };
  });
}

async function contactDetail(id) {
  const d = await gql(`query($i:ID!){ node(id:$i){ ... on Contact { id name firstName lastName phoneNumber email tags{ name } meta{ key value }
    conversations(first:20){ edges{ node{ id status inbox{ name } lastMessageAt } } } } } }`, { i: id });
  const c = d.node;
  if (!c) { render(h('p', {}, 'Contact not found.')); return; }
  const convs = c.conversations.edges.map((e) => e.node);
  render(h('p', {}, h('a', { href: '#/contacts' }, '← Contacts')),
    h('h1', {}, c.name || 'unnamed contact'),
    h('div', { class: 'card' }, form([
      h('div', { class: 'split' },
        field('First name', input('firstName', { value: c.firstName || '' })), field('Last name', input('lastName', { value: c.lastName || '' })),
        field('Phone', input('phoneNumber', { value: c.phoneNumber || '' })), field('Email', input('email', { type: 'email', value: c.email || '' }))),
      field('Tags (comma separated)', input('tags', { value: c.tags.map((t) => t.name).join(', ') })),
      field('Meta (one key=value per line)', h('textarea', { name: 'meta', id: 'f-meta', rows: 3 }, c.meta.map((m) => `${m.key}=${m.value}`).join('\n'))),
    ], 'Save contact', async (fd) => {
      const r = await gql('mutation($i:ContactUpdateInput!){ contactUpdate(input:$i){ contact{ id } userErrors{ field message } } }', {
        i: { id: c.id, firstName: fd.get('firstName') || null, lastName: fd.get('lastName') || null, phoneNumber: fd.get('phoneNumber') || null,
          email: fd.get('email') || null, tags: (fd.get('tags') || '').split(',').map((t) => t.trim()).filter(Boolean), meta: metaLines(fd.get('meta')) },
      });
      if (r.contactUpdate.userErrors.length) return r.contactUpdate.userErrors;
      await contactDetail(id);
      app.prepend(h('div', { class: 'banner ok', role: 'status' }, 'Saved.'));
    })),
    h('h2', {}, 'Conversations'),
    convs.length ? h('ul', {}, convs.map((x) => h('li', {}, h('a', { href: `#/conversation/${encodeURIComponent(x.id)}` }, `${x.inbox ? x.inbox.name : 'conversation'}`), ' ', badge(x.status), h('span', { class: 'muted' }, ` ${when(x.lastMessageAt)}`))))
      : h('p', { class: 'muted' }, 'No conversations yet.'),
    h('button', { class: 'danger', onclick: async () => {
      if (!confirm(`Delete ${c.name || 'this contact'} and their conversations? This cannot be undone.`)) return;
      try {
        const r = await gql('mutation($i:ID!){ contactDelete(input:{id:$i}){ deletedId userErrors{ message } } }', { i: c.id });
        if (r.contactDelete.userErrors.length) throw new Error(r.contactDelete.userErrors[0].message);
        location.hash = '#/contacts';
      } catch (e) { app.prepend(errorBox(e)); }
    } }, 'Delete contact'));
}

const CONV_STATUSES = ['OPEN', 'PENDING', 'RESOLVED', 'SNOOZED'];

async function conversations() {
  const params = new URLSearchParams(location.hash.split('?')[1] || '');
  const status = params.get('status') || null;
  const d = await gql('query($a:ID!,$s:ConversationStatus){ account(id:$a){ conversations(first:50, status:$s){ edges{ node{ id status unreadCount lastMessageAt contact{ name } inbox{ name } lastMessage{ content } } } } } }', { a: accountId, s: status });
  const list = d.account.conversations.edges.map((e) => e.node);
  render(h('h1', {}, 'Conversations'),
    h('div', { class: 'row' }, h('a', { href: '#/conversations' }, 'all'), ...CONV_STATUSES.map((s) => h('a', { href: `#/conversations?status=${s}` }, s.toLowerCase()))),
    list.length ? h('table', { style: 'margin-top:.75rem' }, h('tbody', { id: 'conversation-rows' }, list.map((c) => h('tr', {
      class: 'clickable', tabindex: 0, onclick: () => { location.hash = `#/conversation/${encodeURIComponent(c.id)}`; },
      onkeydown: (ev) => { if (ev.key === 'Enter') location.hash = `#/conversation/${encodeURIComponent(c.id)}`; },
    }, h('td', {}, c.contact ? c.contact.name || 'unnamed' : ''), h('td', { class: 'opt muted' }, c.inbox ? c.inbox.name : ''),
    h('td', {}, c.lastMessage ? c.lastMessage.content || '' : ''), h('td', {}, badge(c.status)), h('td', { class: 'opt' }, when(c.lastMessageAt))))))
      : h('p', { class: 'muted' }, 'No conversations here.'));
}

async function conversationDetail(id) {
  const d = await gql(`query($i:ID!,$a:ID!){ node(id:$i){ ... on Conversation { id status assignee{ id } contact{ id name } inbox{ name }
    messages(first:100){ edges{ node{ messageType senderType content contentType createdAt } } } } }
    account(id:$a){ members(first:100){ edges{ node{ user{ id name email } } } } } }`, { i: id, a: accountId });
  const c = d.node;
  const people = d.account.members.edges.map((e) => e.node.user).filter(Boolean);
  const update = async (input) => {
    try {
      const r = await gql('mutation($i:ConversationUpdateInput!){ conversationUpdate(input:$i){ userErrors{ message } } }', { i: { id: c.id, ...input } });
      if (r.conversationUpdate.userErrors.length) throw new Error(r.conversationUpdate.userErrors[0].message);
      await conversationDetail(id);
      app.prepend(h('div', { class: 'banner ok', role: 'status' }, 'Saved.'));
    } catch (e) { app.prepend(errorBox(e)); }
  };
  if (!c) { render(h('p', {}, 'Conversation not found.')); return; }
  const msgs = c.messages.edges.map((e) => e.node);
  render(h('p', {}, h('a', { href: '#/conversations' }, '← Conversations')),
    h('h1', {}, `${c.contact ? c.contact.name || 'unnamed' : ''} `, badge(c.status)),
    h('div', { class: 'row' },
      h('label', { for: 'f-status' }, 'Status'), select('status', CONV_STATUSES, c.status, { onchange: (ev) => update({ status: ev.target.value }) }),
      h('label', { for: 'f-assignee' }, 'Assignee'), select('assignee', [['', 'unassigned'], ...people.map((u) => [u.id, u.name || u.email])], c.assignee ? c.assignee.id : '',
        { onchange: (ev) => update({ assigneeId: ev.target.value || null }) }),
      c.contact ? h('a', { href: `#/contact/${encodeURIComponent(c.contact.id)}` }, 'Contact details') : null),
    h('div', { class: 'card', id: 'messages' }, msgs.length ? msgs.map((m) => h('p', {},
      h('strong', {}, `${m.messageType === 'INCOMING' ? 'Contact' : m.senderType === 'BOT' ? 'Bot' : m.messageType === 'ACTIVITY' ? 'Activity' : 'Agent'}: `),
      m.content || `[${m.contentType.toLowerCase()}]`, h('span', { class: 'muted' }, ` · ${when(m.createdAt)}`)))
      : h('p', { class: 'muted' }, 'No messages yet.')),
    form([field('Reply', h('textarea', { name: 'content', id: 'f-content', rows: 3, required: true }))], 'Send reply', async (fd) => {
      const r = await gql('mutation($c:ID!,$x:String!){ messageCreate(input:{conversationId:$c, messageType:OUTGOING, content:$x}){ message{ id } userErrors{ field message } } }', { c: c.id, x: fd.get('content') });
      if (r.messageCreate.userErrors.length) return r.messageCreate.userErrors;
      conversationDetail(id);
    }));
}

// ---------- router ----------

const ROUTES = {
  channels,
  contacts,
  conversations,
  subscriptions,
  deliveries,
  partners,
  bots,
  tokens,
};

async function route() {
  cleanup();
  cleanup = () => {};
  const hash = location.hash.replace(/^#\/?/, '');
  const [path] = hash.split('?');
  // A loading line when a screen takes a moment; any render replaces it.
  const slow = setTimeout(() => { app.setAttribute('aria-busy', 'true'); app.prepend(h('p', { class: 'muted loading' }, 'Loading…')); }, 200);
  try {
    const setup = await gql('{ setupStatus { needsFirstAdmin } }');
    if (setup.setupStatus.needsFirstAdmin) return firstRun();
    if (!token) return login();
    nav.hidden = false;
    const accounts = await loadAccounts();
    const p0 = path.split('/')[0];
    const section = { conversation: 'conversations', contact: 'contacts', subscription: 'subscriptions', delivery: 'deliveries' }[p0] || p0 || 'deliveries';
    for (const a of nav.querySelectorAll('a')) {
      const on = a.getAttribute('href') === `#/${section}`;
      a.classList.toggle('active', on);
      if (on) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
    }
    if (!accounts.length) return noAccount();
    if (path.startsWith('delivery/')) return await deliveryDetail(decodeURIComponent(path.slice('delivery/'.length)));
    if (path.startsWith('conversation/')) return await conversationDetail(decodeURIComponent(path.slice('conversation/'.length)));
    if (path.startsWith('contact/')) return await contactDetail(decodeURIComponent(path.slice('contact/'.length)));
    if (path.startsWith('subscription/')) return await subscriptionDetail(decodeURIComponent(path.slice('subscription/'.length)));
    const view = ROUTES[path] || deliveries;
    await view();
  } catch (e) {
    render(errorBox(e));
  } finally {
    clearTimeout(slow);
    app.removeAttribute('aria-busy');
    app.querySelector(':scope > .loading')?.remove();
  }
}

window.addEventListener('hashchange', route);
route();
