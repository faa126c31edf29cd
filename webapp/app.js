// The reference app: sign-in, the pre-Link screen, Link (new, update mode, OAuth resume), the item list,
// transactions, removal, and for operators the Link funnel. Configuration: window.WEFT_CONFIG (config.js).

import { Api, ApiError } from './api.js';
import { Auth, claims } from './auth.js';
import { pendingLink, runLink } from './link.js';
import { errorItems, funnelChart, funnelRows, itemCard, transactionRows } from './views.js';

const config = window.WEFT_CONFIG;
const $ = (sel) => document.querySelector(sel);

function notify(message, { error = false } = {}) {
  const n = $('#notice');
  n.textContent = message;
  n.className = error ? 'error' : '';
  n.setAttribute('role', error ? 'alert' : 'status');
  n.hidden = !message;
}

function explain(e) {
  if (e instanceof ApiError) {
    switch (e.code) {
      case 'DUPLICATE_ITEM': return 'That bank account is already connected.';
      case 'RATE_LIMITED': return 'Too many attempts. Please wait a little and try again.';
      case 'UPSTREAM_UNAVAILABLE':
      case 'EXCHANGE_IN_PROGRESS': return 'The service is busy. Please try again in a moment.';
      case 'EXCHANGE_OUTCOME_UNKNOWN':
      case 'EXCHANGE_UNDONE': return 'We could not finish connecting your bank. Please connect it again.';
      default: return `${e.message} (${e.code}${e.requestId ? `, request ${e.requestId}` : ''})`;
    }
  }
  return e.message || String(e);
}

if (!config || typeof config.linkScriptUrl !== 'string') {
  document.body.textContent = 'config.js must set window.WEFT_CONFIG (see config.example.js).';
  throw new Error('window.WEFT_CONFIG missing');
}

const auth = new Auth(config);
const api = new Api(config.apiBase || window.location.origin, () => auth.token());
let txState = null;

async function showSignedIn(token) {
  $('#signin').hidden = true;
  $('#home').hidden = false;
  $('#sign-out').hidden = false;
  const who = $('#whoami');
  who.textContent = `Signed in as ${claims(token).sub}${auth.isOperator(token) ? ' (operator)' : ''}`;
  who.hidden = false;
  await refreshItems();
  if (auth.isOperator(token)) {
    await showFunnel();
  }
}

function showSignIn() {
  $('#home').hidden = true;
  $('#sign-out').hidden = true;
  $('#whoami').hidden = true;
  $('#operator').hidden = true;
  if (auth.dev) {
    $('#signin').hidden = false;
    $('#signin-sub').focus();
  } else if (typeof config.signIn === 'function') {
    config.signIn();
  }
}

async function refreshItems() {
  const { items } = await api.items();
  const list = $('#items');
  list.replaceChildren(...items.map(itemCard));
  $('#items-empty').hidden = items.length > 0;
  list.dataset.loaded = String(Date.now());
}

async function showFunnel() {
  const report = await api.conversion();
  $('#operator').hidden = false;
  $('#funnel-range').textContent = `${report.from} to ${report.to}: ${report.sessions} Link sessions`;
  $('#funnel-chart').replaceChildren(funnelChart(report));
  $('#funnel-table tbody').replaceChildren(...funnelRows(report));
  $('#funnel-errors').replaceChildren(...errorItems(report));
}

/** Runs Link for `session` and shows its outcome. */
async function link(session, receivedRedirectUri) {
  notify('');
  const result = await runLink({ api, scriptUrl: config.linkScriptUrl, session, receivedRedirectUri });
  if (result.status === 'success') {
    notify(session.mode === 'update'
      ? 'Thanks, your connection is working again.'
      : `Connected ${result.item.institution.name}.`);
  } else if (result.error) {
    notify(result.error.display_message || 'Your bank could not be connected. Please try again.', { error: true });
  }
  await refreshItems();
}

async function startLink(itemId) {
  const body = itemId ? { item_id: itemId } : {};
  const created = await api.linkToken(body);
  await link({ link_token: created.link_token, mode: created.mode, item_id: created.item_id || null });
}

async function showTransactions(itemId, cursor) {
  const page = await api.transactions(itemId, cursor);
  const body = $('#transactions-body');
  const rows = transactionRows(page.transactions);
  if (cursor) {
    body.append(...rows);
  } else {
    body.replaceChildren(...rows);
  }
  txState = { itemId, cursor: page.next_cursor };
  $('#transactions-more').hidden = !page.next_cursor;
  const section = $('#transactions');
  section.hidden = false;
  section.dataset.item = itemId;
}

async function run(task) {
  try {
    await task();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      auth.signOut();
      showSignIn();
    }
    notify(explain(e), { error: true });
  }
}

$('#signin-form').addEventListener('submit', (event) => {
  event.preventDefault();
  run(async () => {
    const token = await auth.devSignIn($('#signin-sub').value.trim(), $('#signin-operator').checked);
    await showSignedIn(token);
  });
});

$('#sign-out').addEventListener('click', () => {
  auth.signOut();
  showSignIn();
});

$('#connect').addEventListener('click', () => run(() => startLink(null)));

$('#items').addEventListener('click', (event) => {
  const button = event.target.closest('button[data-action]');
  if (!button) {
    return;
  }
  const itemId = button.dataset.item;
  const name = button.closest('.item').querySelector('h3').textContent;
  switch (button.dataset.action) {
    case 'update':
      run(() => startLink(itemId));
      break;
    case 'transactions':
      run(() => showTransactions(itemId, null));
      break;
    case 'remove':
      if (window.confirm(`Disconnect ${name}? Its data here is deleted.`)) {
        run(async () => {
          await api.removeItem(itemId);
          if (txState && txState.itemId === itemId) {
            $('#transactions').hidden = true;
          }
          notify(`Disconnected ${name}.`);
          await refreshItems();
        });
      }
      break;
    default:
      break;
  }
});

$('#transactions-more').addEventListener('click', () => run(() => showTransactions(txState.itemId, txState.cursor)));

/** Back from the bank's OAuth page (the link token's redirect_uri): resume the interrupted Link session. */
async function resumeOAuth() {
  const received = window.location.href;
  // The session saved before the redirect, else weft's newest link token for this user (same token, mode).
  const session = pendingLink() || (await api.resumeLinkToken());
  // The redirect's query is Link's, not the app's: drop it from the address bar.
  window.history.replaceState(null, '', window.location.pathname);
  await link(session, received);
}

run(async () => {
  const token = await auth.token();
  if (!token) {
    showSignIn();
    return;
  }
  await showSignedIn(token);
  if (new URLSearchParams(window.location.search).has('oauth_state_id')) {
    await resumeOAuth();
  }
});
