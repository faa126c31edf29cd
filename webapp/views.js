// Rendering: the item list with each status as the app should show it, transactions, and the operators' funnel.

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) {
      continue;
    }
    if (k === 'dataset') {
      Object.assign(node.dataset, v);
    } else if (k === 'class') {
      node.className = v;
    } else {
      node.setAttribute(k, v === true ? '' : v);
    }
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined) {
      node.append(c instanceof Node ? c : String(c));
    }
  }
  return node;
}

const money = (amount, currency) =>
  amount === null || amount === undefined
    ? '—'
    : new Intl.NumberFormat('en-US', { style: 'currency', currency: currency || 'USD' }).format(amount);

const day = (iso) => new Date(iso).toLocaleDateString('en-US', { year: 'numeric', month: 'long', day: 'numeric' });

const STATUS_TEXT = {
  healthy: 'Connected',
  needs_login: 'Needs your attention',
  expiring: 'Access expiring',
  new_accounts: 'New accounts found',
  unavailable: 'Unavailable',
};

/** One item: the banner its `action` calls for, its accounts, and its buttons (data-action, data-item). */
export function itemCard(item) {
  const name = item.institution.name;
  const id = item.item_id;
  const action = item.action;
  const card = el('li', { class: `item ${action.replace('_', '-')}`, dataset: { item: id, action } });
  card.append(el('h3', {}, name));
  card.append(el('p', { class: 'status' }, STATUS_TEXT[action] || action));
  if (action === 'needs_login') {
    card.append(el('div', { class: 'banner relink', role: 'alert' },
      el('span', {}, `Your connection to ${name} stopped working. Log in again to keep your balances and transactions up to date.`),
      el('button', { type: 'button', dataset: { action: 'update', item: id } }, 'Update')));
  } else if (action === 'expiring') {
    card.append(el('div', { class: 'banner relink', role: 'alert' },
      el('span', {}, `Your consent for ${name} expires on `, el('time', { datetime: item.on }, day(item.on)),
        '. Renew it to keep your data up to date.'),
      el('button', { type: 'button', dataset: { action: 'update', item: id } }, 'Update')));
  } else if (action === 'new_accounts') {
    card.append(el('div', { class: 'banner new-accounts', role: 'status' },
      el('span', {}, `${name} has new accounts you can share.`),
      el('button', { type: 'button', dataset: { action: 'update', item: id } }, 'Choose accounts')));
  } else if (action === 'unavailable') {
    card.setAttribute('aria-disabled', 'true');
    card.append(el('p', { class: 'unavailable-note' },
      `${name} is not available right now. We will keep trying; you do not need to do anything.`));
  }
  const accounts = el('ul', { class: 'accounts' });
  for (const a of item.accounts) {
    accounts.append(el('li', { dataset: { account: a.account_id } },
      el('span', {}, `${a.name}${a.mask ? ` ••${a.mask}` : ''} (${a.subtype || a.type})`),
      el('span', { class: 'num' }, money(a.balances.current, a.balances.iso_currency_code))));
  }
  card.append(accounts);
  const tx = item.transactions;
  card.append(el('p', { class: 'status sync' }, tx.last_synced_at
    ? `Transactions updated ${new Date(tx.last_synced_at).toLocaleString('en-US')}${tx.historical_update_complete ? '' : ' (history still loading)'}`
    : 'Transactions are on their way.'));
  card.append(el('div', { class: 'actions' },
    el('button', { type: 'button', dataset: { action: 'transactions', item: id }, disabled: action === 'unavailable' },
      'Transactions'),
    el('button', { type: 'button', dataset: { action: 'remove', item: id } }, 'Remove')));
  return card;
}

export function transactionRows(transactions) {
  return transactions.map((t) => el('tr', { dataset: { transaction: t.transaction_id } },
    el('td', {}, t.date),
    el('td', {}, t.merchant_name || t.name, t.pending ? ' (pending)' : ''),
    // Plaid's sign convention: positive is money out.
    el('td', { class: 'num' }, money(-t.amount, t.iso_currency_code))));
}

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) {
    node.setAttribute(k, String(v));
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

const STAGES = [
  ['selected', 'Selected', '#0a5cd5'],
  ['submitted_credentials', 'Submitted credentials', '#5b8def'],
  ['succeeded', 'Succeeded', '#1e8e3e'],
  ['exited', 'Exited', '#b3261e'],
];

/** The funnel as an inline SVG bar chart: one group of bars per institution, one bar per stage. */
export function funnelChart(report) {
  const institutions = Object.entries(report.by_institution);
  const max = Math.max(1, ...institutions.flatMap(([, f]) => STAGES.map(([k]) => f[k])));
  const label = 190;
  const width = 640;
  const bar = 14;
  const groupHeight = STAGES.length * (bar + 3) + 16;
  const height = 30 + Math.max(1, institutions.length) * groupHeight;
  const chart = svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-labelledby': 'funnel-title', id: 'funnel-svg' });
  chart.append(svg('title', { id: 'funnel-title' },
    `Link funnel ${report.from} to ${report.to}: ${report.sessions} sessions`));
  let legendX = label;
  for (const [, name, colour] of STAGES) {
    chart.append(svg('rect', { x: legendX, y: 4, width: 10, height: 10, fill: colour }));
    chart.append(svg('text', { x: legendX + 14, y: 13, 'font-size': 11 }, name));
    legendX += 34 + name.length * 6;
  }
  institutions.forEach(([id, f], g) => {
    const top = 30 + g * groupHeight;
    chart.append(svg('text', { x: 0, y: top + 14, 'font-size': 12, 'font-weight': 600 }, f.institution_name || id));
    chart.append(svg('text', { x: 0, y: top + 30, 'font-size': 11 }, `${Math.round(f.conversion * 100)}% converted`));
    STAGES.forEach(([key, name, colour], i) => {
      const y = top + i * (bar + 3);
      const w = Math.round(((width - label - 40) * f[key]) / max);
      const rect = svg('rect', { x: label, y, width: Math.max(w, 1), height: bar, fill: colour,
        'data-institution': id, 'data-stage': key, 'data-value': f[key] });
      rect.append(svg('title', {}, `${f.institution_name || id}: ${name} ${f[key]}`));
      chart.append(rect);
      chart.append(svg('text', { x: label + Math.max(w, 1) + 4, y: y + bar - 3, 'font-size': 11 }, f[key]));
    });
  });
  return chart;
}

export function funnelRows(report) {
  return Object.entries(report.by_institution).map(([id, f]) => el('tr', { dataset: { institution: id } },
    el('th', { scope: 'row' }, f.institution_name || id),
    ...STAGES.map(([k]) => el('td', { class: 'num' }, f[k])),
    el('td', { class: 'num' }, `${Math.round(f.conversion * 100)}%`)));
}

export function errorItems(report) {
  const entries = Object.entries(report.errors_by_code);
  return entries.length ? entries.map(([code, n]) => el('li', {}, `${code}: ${n}`)) : [el('li', {}, 'None')];
}
