// Who is signed in: a bearer token from the app's identity provider (production: config.getAccessToken), or,
// locally, from the stack's dev issuer (POST <devIssuer>/token {sub, groups}). Kept in sessionStorage, so it
// survives the OAuth redirect and goes with the tab.

const KEY = 'weft.token';

export function claims(token) {
  try {
    const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(payload.padEnd(payload.length + ((4 - (payload.length % 4)) % 4), '=')));
  } catch {
    return {};
  }
}

export class Auth {
  constructor(config) {
    this.config = config;
  }

  /** Whether this deployment signs in through the dev issuer (the local stack). */
  get dev() {
    return typeof this.config.getAccessToken !== 'function' && typeof this.config.devIssuer === 'string';
  }

  async token() {
    if (typeof this.config.getAccessToken === 'function') {
      return this.config.getAccessToken();
    }
    const token = sessionStorage.getItem(KEY);
    if (token && (claims(token).exp || 0) * 1000 > Date.now() + 30_000) {
      return token;
    }
    sessionStorage.removeItem(KEY);
    return null;
  }

  async devSignIn(sub, operator) {
    const resp = await fetch(this.config.devIssuer.replace(/\/+$/, '') + '/token', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sub, groups: operator ? [this.operatorGroup] : [] }),
    });
    if (!resp.ok) {
      throw new Error(`the dev issuer refused the sign-in (HTTP ${resp.status})`);
    }
    const { access_token: token } = await resp.json();
    sessionStorage.setItem(KEY, token);
    return token;
  }

  signOut() {
    sessionStorage.removeItem(KEY);
    if (typeof this.config.signOut === 'function') {
      this.config.signOut();
    }
  }

  get operatorGroup() {
    return this.config.operatorGroup || 'weft-operators';
  }

  /** Whether the token is an operator's (the operator claim holds the operator group). */
  isOperator(token) {
    const value = claims(token)[this.config.operatorClaim || 'cognito:groups'];
    return Array.isArray(value) ? value.includes(this.operatorGroup) : value === this.operatorGroup;
  }
}
