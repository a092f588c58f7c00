// The audit log viewer. Plain JavaScript, no dependencies, served by the audit
// router. Everything it shows comes from the endpoints beside it, read with
// the caller's credentials. Record text is set with textContent, never as HTML.

const root = document.documentElement;
const API = root.dataset.api ?? '';
const ASK_FOR_TOKEN = root.dataset.token === 'ask';
const TOKEN_KEY = `audit-trail-token:${API}`;
const FILTERS = ['action_type', 'user_id', 'user_email', 'resource', 'resource_id', 'app_id', 'outcome', 'from', 'to'];
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, children = []) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'text') node.textContent = value;
    else if (key === 'class') node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
};
const svg = (tag, attributes = {}) => {
  const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  return node;
};

const localTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const shortDay = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });
const shortHour = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
const count = new Intl.NumberFormat();

/** A `<time>` in the viewer's zone, with the UTC instant on hover. */
function timeElement(iso) {
  const node = el('time', { datetime: iso, title: `${iso} (UTC)`, text: localTime.format(new Date(iso)) });
  return node;
}

// ---- credentials ---------------------------------------------------------

function token() {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

function setToken(value) {
  try {
    if (value === null) sessionStorage.removeItem(TOKEN_KEY);
    else sessionStorage.setItem(TOKEN_KEY, value);
  } catch {
    // Storage refused (private mode): the token lives as long as the page.
  }
  memoryToken = value;
}
let memoryToken = null;

function authHeaders() {
  const value = token() ?? memoryToken;
  return ASK_FOR_TOKEN && value ? { authorization: `Bearer ${value}` } : {};
}

class HttpError extends Error {
  constructor(status, body) {
    super(body?.description ?? `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function request(path, params) {
  const query = params && [...params].length > 0 ? `?${params}` : '';
  let response;
  try {
    response = await fetch(`${API}${path}${query}`, { headers: { accept: 'application/json', ...authHeaders() }, credentials: 'same-origin' });
  } catch {
    throw new HttpError(0, { description: 'The server cannot be reached.' });
  }
  if (!response.ok) {
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    throw new HttpError(response.status, body);
  }
  return response;
}

// ---- page state (the URL) ------------------------------------------------

/** The filters, page size and cursor of the page's URL. */
function viewOfUrl() {
  const params = new URLSearchParams(location.search);
  const view = { filters: new URLSearchParams(), limit: params.get('limit') ?? '50', cursor: params.get('cursor') };
  for (const name of FILTERS) for (const value of params.getAll(name)) if (value) view.filters.append(name, value);
  return view;
}

function urlOfView(view) {
  const params = new URLSearchParams(view.filters);
  if (view.limit && view.limit !== '50') params.set('limit', view.limit);
  if (view.cursor) params.set('cursor', view.cursor);
  const search = params.toString();
  return `${location.pathname}${search ? `?${search}` : ''}`;
}

/** Earlier cursors of this paging run, kept in the history entry, so that "Newer" can go back. */
function previousCursors() {
  const stack = history.state?.cursors;
  return Array.isArray(stack) ? stack : [];
}

function navigate(view, cursors) {
  history.pushState({ cursors }, '', urlOfView(view));
  void show();
}

// ---- the filter form -----------------------------------------------------

const form = () => $('at-filters');

/** `datetime-local` holds local time without a zone; the endpoint wants an instant. */
function instantOfLocal(value) {
  if (!value) return '';
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? '' : date.toISOString();
}

function localOfInstant(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

function fillForm(view) {
  const f = form();
  const actions = new Set(view.filters.getAll('action_type').flatMap((v) => v.split(',')));
  for (const option of f.elements.action_type.options) option.selected = actions.has(option.value);
  const resource = view.filters.get('resource');
  if (resource && ![...f.elements.resource.options].some((o) => o.value === resource)) f.elements.resource.append(el('option', { value: resource, text: resource }));
  for (const name of ['user_id', 'user_email', 'resource', 'resource_id', 'app_id', 'outcome']) f.elements[name].value = view.filters.get(name) ?? '';
  f.elements.from.value = view.filters.has('from') ? localOfInstant(view.filters.get('from')) : '';
  f.elements.to.value = view.filters.has('to') ? localOfInstant(view.filters.get('to')) : '';
  f.elements.limit.value = view.limit;
}

function viewOfForm() {
  const f = form();
  const filters = new URLSearchParams();
  for (const option of f.elements.action_type.selectedOptions) filters.append('action_type', option.value);
  for (const name of ['user_id', 'user_email', 'resource', 'resource_id', 'app_id', 'outcome']) {
    const value = f.elements[name].value.trim();
    if (value) filters.set(name, value);
  }
  const from = instantOfLocal(f.elements.from.value);
  const to = instantOfLocal(f.elements.to.value);
  if (from) filters.set('from', from);
  if (to) filters.set('to', to);
  return { filters, limit: f.elements.limit.value, cursor: null };
}

// ---- states --------------------------------------------------------------

function showOnly(which) {
  $('at-signin').hidden = which !== 'signin';
  $('at-state').hidden = which !== 'state';
  $('at-app').hidden = which !== 'app';
}

function showSignIn(message) {
  showOnly('signin');
  $('at-signout').hidden = true;
  const error = $('at-signin-error');
  error.hidden = !message;
  error.textContent = message ?? '';
  $('at-token').focus();
}

function showState(title, text, retry) {
  showOnly('state');
  $('at-state-title').textContent = title;
  $('at-state-text').textContent = text;
  $('at-retry').hidden = !retry;
}

/** Answers that stop the whole page: not signed in, refused, the store down. */
function showFailure(error) {
  const description = error.body?.description ?? error.message;
  if (error.status === 401) {
    if (ASK_FOR_TOKEN) {
      const rejected = signingIn;
      setToken(null);
      showSignIn(rejected ? 'That token is not known. Try another one.' : 'Sign in again.');
      return;
    } else showState('Not signed in', `Sign in to the app to see its audit log. (${description})`, true);
  } else if (error.status === 403) {
    showState('Access refused', `You are signed in, but not allowed to read the audit log. ${description}`, false);
  } else if (error.status === 503 || error.status === 0) {
    showState('The audit log is unavailable', `${description} Try again in a moment.`, true);
  } else {
    showState('Something went wrong', description, true);
  }
  $('at-signout').hidden = !ASK_FOR_TOKEN || (token() ?? memoryToken) === null;
}
let signingIn = false;

// ---- records -------------------------------------------------------------

function outcomeBadge(outcome) {
  return el('span', { class: `at-outcome at-outcome-${outcome === 'success' ? 'success' : 'failure'}`, text: outcome === 'success' ? 'Success' : 'Failure' });
}

function renderRows(records) {
  const rows = $('at-rows');
  rows.replaceChildren();
  for (const record of records) {
    // The visible time is the button's name, so that speech input can say it; "details" tells what it opens.
    const open = el('button', { type: 'button', class: 'at-link', 'aria-haspopup': 'dialog' }, [
      timeElement(record.created),
      el('span', { class: 'at-visually-hidden', text: ' details' }),
    ]);
    open.addEventListener('click', (event) => {
      event.stopPropagation();
      openDetail(record, open);
    });
    const resource = el('td', {}, [el('span', { text: record.resource })]);
    if (record.resource_id !== null) resource.append(' ', el('span', { class: 'at-id', text: record.resource_id }));
    const row = el('tr', { 'data-id': record.id }, [
      el('td', {}, [open]),
      el('td', { text: record.action_type }),
      resource,
      el('td', { text: record.user.email ?? record.user.id, title: record.user.id }),
      el('td', { text: record.app_id ?? '—' }),
      el('td', {}, [outcomeBadge(record.outcome)]),
      el('td', { text: record.status_code === null ? '—' : String(record.status_code) }),
    ]);
    row.addEventListener('click', () => openDetail(record, open));
    rows.append(row);
  }
}

let current = { next: null, loaded: 0 };

async function loadRecords(view) {
  const table = $('at-records');
  const status = $('at-status');
  table.setAttribute('aria-busy', 'true');
  status.textContent = 'Loading records…';
  const params = new URLSearchParams(view.filters);
  params.set('limit', view.limit);
  if (view.cursor) params.set('cursor', view.cursor);
  try {
    const page = await (await request('', params)).json();
    renderRows(page.data);
    current = { next: page.next_cursor, loaded: page.data.length };
    status.textContent =
      page.data.length === 0
        ? view.cursor
          ? 'No more records.'
          : 'No records match these filters.'
        : `Showing ${count.format(page.data.length)} record${page.data.length === 1 ? '' : 's'}, newest first${page.next_cursor ? '; more are on older pages' : ''}.`;
    return true;
  } catch (error) {
    if (error.status === 400) {
      renderRows([]);
      current = { next: null, loaded: 0 };
      status.textContent = `The filters are not valid: ${error.body?.description ?? error.message}`;
      return true;
    }
    showFailure(error);
    return false;
  } finally {
    table.removeAttribute('aria-busy');
    $('at-older').disabled = !current.next;
    $('at-newer').disabled = !view.cursor;
    $('at-first').disabled = !view.cursor;
  }
}

// ---- the detail dialog ---------------------------------------------------

function json(value) {
  return JSON.stringify(value, null, 2);
}

let returnFocus = null;

function openDetail(record, opener) {
  returnFocus = opener;
  $('at-detail-title').textContent = `${record.action_type} · ${record.id}`;
  const fields = $('at-detail-fields');
  fields.replaceChildren();
  const add = (name, value) => {
    const dd = el('dd');
    if (value instanceof Node) dd.append(value);
    else dd.textContent = value === null || value === undefined ? '—' : String(value);
    fields.append(el('dt', { text: name }), dd);
  };
  add('id', record.id);
  add('created', timeElement(record.created));
  add('created (UTC)', record.created);
  add('action_type', record.action_type);
  add('resource', record.resource);
  add('resource_id', record.resource_id);
  add('user.id', record.user.id);
  add('user.email', record.user.email);
  add('account_id', record.account_id);
  add('app_id', record.app_id);
  add('outcome', outcomeBadge(record.outcome));
  add('status_code', record.status_code);
  for (const [key, value] of Object.entries(record.request ?? {})) add(`request.${key}`, value);
  add('trace.trace_id', record.trace?.trace_id ?? null);
  add('trace.span_id', record.trace?.span_id ?? null);

  const changes = $('at-detail-changes');
  changes.replaceChildren();
  if (record.changes === null || record.changes === undefined) changes.append(el('p', { class: 'at-muted', text: 'Not recorded.' }));
  else {
    const body = el('tbody');
    for (const [path, change] of Object.entries(record.changes)) {
      body.append(el('tr', {}, [el('th', { scope: 'row', text: path }), el('td', { text: JSON.stringify(change.from) }), el('td', { text: JSON.stringify(change.to) })]));
    }
    const head = el('thead', {}, [el('tr', {}, [el('th', { scope: 'col', text: 'Field' }), el('th', { scope: 'col', text: 'From' }), el('th', { scope: 'col', text: 'To' })])]);
    changes.append(
      el('div', { class: 'at-table-wrap' }, [el('table', { class: 'at-table at-changes', 'aria-label': 'Changes, from and to' }, [head, body])]),
      el('pre', { class: 'at-json', tabindex: '0', 'aria-label': 'Changes as JSON', text: json(record.changes) }),
    );
  }
  $('at-detail-details').textContent = json(record.details);
  const dialog = $('at-detail');
  dialog.showModal();
  $('at-detail-close').focus();
}

// ---- activity chart ------------------------------------------------------

function statsRange(filters) {
  const to = filters.has('to') ? Date.parse(filters.get('to')) : Date.now();
  const from = filters.has('from') ? Date.parse(filters.get('from')) : to - 7 * DAY;
  return { from, to, interval: to - from > 14 * DAY ? 'day' : 'hour' };
}

async function loadChart(view) {
  const chart = $('at-chart');
  const summary = $('at-chart-summary');
  const params = new URLSearchParams(view.filters);
  const range = statsRange(view.filters);
  params.set('interval', range.interval);
  summary.textContent = 'Loading activity…';
  try {
    const stats = await (await request('/stats', params)).json();
    drawChart(chart, stats);
    const total = stats.buckets.reduce((sum, b) => sum + b.count, 0);
    const failures = stats.buckets.reduce((sum, b) => sum + b.failures, 0);
    const first = stats.buckets[0]?.start;
    summary.textContent = first
      ? `${count.format(total)} actions, ${count.format(failures)} failed, per ${stats.interval} since ${localTime.format(new Date(first))}.`
      : 'No activity in this range.';
  } catch (error) {
    chart.replaceChildren();
    summary.textContent = error.status === 400 ? `No chart for this range: ${error.body?.description ?? error.message}` : `The chart cannot be shown: ${error.body?.description ?? error.message}`;
  }
}

function drawChart(container, stats) {
  const buckets = stats.buckets;
  const width = 1000;
  const height = 120;
  const top = 8;
  const bottom = 18;
  const max = Math.max(1, ...buckets.map((b) => b.count));
  const step = width / Math.max(1, buckets.length);
  const total = buckets.reduce((sum, b) => sum + b.count, 0);
  const failures = buckets.reduce((sum, b) => sum + b.failures, 0);
  const chart = svg('svg', { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': `Activity per ${stats.interval}: ${total} actions, ${failures} failures` });
  const scale = (n) => ((height - top - bottom) * n) / max;
  const label = stats.interval === 'day' ? shortDay : shortHour;
  buckets.forEach((bucket, i) => {
    const x = i * step;
    const w = Math.max(1, step - (step > 4 ? 1 : 0));
    const group = svg('g');
    const title = svg('title');
    title.textContent = `${label.format(new Date(bucket.start))}: ${bucket.count} actions, ${bucket.failures} failed`;
    group.append(title);
    const ok = bucket.count - bucket.failures;
    const okHeight = scale(ok);
    const failHeight = scale(bucket.failures);
    const base = height - bottom;
    if (ok > 0) group.append(svg('rect', { class: 'at-bar-success', x, y: base - okHeight, width: w, height: okHeight }));
    if (bucket.failures > 0) group.append(svg('rect', { class: 'at-bar-failure', x, y: base - okHeight - failHeight, width: w, height: failHeight }));
    // An invisible full-height target, so that hovering any bucket shows its counts.
    group.append(svg('rect', { x, y: top, width: w, height: base - top, fill: 'transparent' }));
    chart.append(group);
  });
  chart.append(svg('line', { class: 'at-baseline', x1: 0, x2: width, y1: height - bottom, y2: height - bottom }));
  const ticks = Math.min(6, buckets.length);
  for (let t = 0; t < ticks; t++) {
    const i = Math.floor((t * buckets.length) / ticks);
    const text = svg('text', { class: 'at-axis', x: i * step + 2, y: height - 4 });
    text.textContent = label.format(new Date(buckets[i].start));
    chart.append(text);
  }
  container.replaceChildren(chart);
}

// ---- export --------------------------------------------------------------

async function exportAs(format, button) {
  const view = viewOfUrl();
  const params = new URLSearchParams(view.filters);
  params.set('format', format);
  const status = $('at-status');
  button.disabled = true;
  status.textContent = `Preparing the ${format.toUpperCase()} export…`;
  try {
    if (!ASK_FOR_TOKEN) {
      // Cookies go with a plain download: the browser streams it to disk.
      const link = el('a', { href: `${API}/export?${params}`, download: '' });
      document.body.append(link);
      link.click();
      link.remove();
      status.textContent = `The ${format.toUpperCase()} export has started.`;
      return;
    }
    const response = await request('/export', params);
    const blob = await response.blob();
    const disposition = response.headers.get('content-disposition') ?? '';
    const name = /filename="([^"]+)"/.exec(disposition)?.[1] ?? `audit.${format}`;
    const url = URL.createObjectURL(blob);
    const link = el('a', { href: url, download: name });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    status.textContent = `Exported as ${name}.`;
  } catch (error) {
    if (error.status === 401 || error.status === 403) showFailure(error);
    else status.textContent = `The export failed: ${error.body?.description ?? error.message}`;
  } finally {
    button.disabled = false;
  }
}

// ---- start ---------------------------------------------------------------

let catalogLoaded = false;

/** The catalog's action types, from the OpenAPI document (it needs the same access as the records). */
async function loadCatalog() {
  const document = await (await request('/openapi.json')).json();
  const actionTypes = document.components?.schemas?.AuditRecord?.properties?.action_type?.enum ?? [];
  const select = form().elements.action_type;
  select.replaceChildren(...actionTypes.map((type) => el('option', { value: type, text: type })));
  const resources = document.components?.schemas?.AuditRecord?.properties?.resource?.enum ?? [];
  form().elements.resource.replaceChildren(el('option', { value: '', text: 'Any' }), ...resources.map((name) => el('option', { value: name, text: name })));
  catalogLoaded = true;
}

async function show() {
  if (ASK_FOR_TOKEN && (token() ?? memoryToken) === null) return showSignIn(null);
  try {
    if (!catalogLoaded) await loadCatalog();
  } catch (error) {
    showFailure(error);
    signingIn = false;
    return;
  }
  signingIn = false;
  showOnly('app');
  $('at-signout').hidden = !ASK_FOR_TOKEN;
  const view = viewOfUrl();
  fillForm(view);
  const ok = await loadRecords(view);
  if (ok) void loadChart(view);
}

function start() {
  if (ASK_FOR_TOKEN) {
    $('at-token-label').textContent = root.dataset.tokenLabel || 'Token';
    $('at-token-hint').textContent = root.dataset.tokenHint || '';
  }
  $('at-signin').addEventListener('submit', (event) => {
    event.preventDefault();
    const value = $('at-token').value.trim();
    if (!value) return;
    signingIn = true;
    setToken(value);
    $('at-token').value = '';
    catalogLoaded = false;
    void show();
  });
  $('at-signout').addEventListener('click', () => {
    setToken(null);
    catalogLoaded = false;
    $('at-rows').replaceChildren();
    showSignIn(null);
  });
  $('at-retry').addEventListener('click', () => void show());
  form().addEventListener('submit', (event) => {
    event.preventDefault();
    navigate(viewOfForm(), []);
    $('at-records-title').focus();
  });
  $('at-reset').addEventListener('click', () => navigate({ filters: new URLSearchParams(), limit: '50', cursor: null }, []));
  $('at-older').addEventListener('click', () => {
    if (!current.next) return;
    const view = viewOfUrl();
    navigate({ ...view, cursor: current.next }, [...previousCursors(), view.cursor ?? '']);
  });
  $('at-newer').addEventListener('click', () => {
    const view = viewOfUrl();
    const stack = previousCursors();
    const cursor = stack.length > 0 ? stack[stack.length - 1] : '';
    navigate({ ...view, cursor: cursor || null }, stack.slice(0, -1));
  });
  $('at-first').addEventListener('click', () => navigate({ ...viewOfUrl(), cursor: null }, []));
  $('at-export-csv').addEventListener('click', (event) => void exportAs('csv', event.currentTarget));
  $('at-export-ndjson').addEventListener('click', (event) => void exportAs('ndjson', event.currentTarget));
  const dialog = $('at-detail');
  $('at-detail-close').addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => returnFocus?.focus());
  window.addEventListener('popstate', () => void show());
  void show();
}

start();
