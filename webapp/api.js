// The weft API: bearer-token JSON calls, errors as ApiError with weft's stable codes.

export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.code = e.code || 'HTTP_' + status;
    this.requestId = e.request_id || null;
    this.itemId = e.item_id || null;
  }
}

export class Api {
  /** @param {string} base the API's base URL; @param {() => Promise<string|null>} token the bearer token */
  constructor(base, token) {
    this.base = base.replace(/\/+$/, '');
    this.token = token;
  }

  async call(method, path, body, { keepalive = false } = {}) {
    const token = await this.token();
    if (!token) {
      throw new ApiError(401, { error: { code: 'UNAUTHENTICATED', message: 'sign in first' } });
    }
    const headers = { authorization: `Bearer ${token}` };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
    }
    const resp = await fetch(this.base + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      // Link events must survive the page going to the bank for OAuth.
      keepalive,
    });
    const text = await resp.text();
    const json = text ? JSON.parse(text) : null;
    if (!resp.ok) {
      throw new ApiError(resp.status, json);
    }
    return json;
  }

  linkToken(body) { return this.call('POST', '/link/token', body); }
  resumeLinkToken() { return this.call('GET', '/link/token/resume'); }
  exchange(publicToken, metadata) {
    return this.call('POST', '/items/exchange', { public_token: publicToken, metadata });
  }
  linkEvents(events) { return this.call('POST', '/link/events', { events }, { keepalive: true }); }
  items() { return this.call('GET', '/items'); }
  removeItem(itemId) { return this.call('DELETE', `/items/${encodeURIComponent(itemId)}`); }
  transactions(itemId, cursor) {
    const q = new URLSearchParams({ limit: '25' });
    if (cursor) {
      q.set('cursor', cursor);
    }
    return this.call('GET', `/items/${encodeURIComponent(itemId)}/transactions?${q}`);
  }
  conversion() { return this.call('GET', '/link/conversion'); }
}
