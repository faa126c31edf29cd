// window.WEFT_CONFIG for a deployed reference app: serve this file as config.js next to index.html.
// Locally the stack's gateway generates config.js itself (apiBase, the emulator's Link script, the dev issuer).
window.WEFT_CONFIG = {
  // The deployed HTTP API (the stack's `HttpApiUrl` output), without a trailing slash. Omit it when the app is
  // served from the API's own origin.
  apiBase: "https://abc123.execute-api.us-east-1.amazonaws.com",
  // Plaid's Link SDK, from Plaid's CDN only (Plaid does not allow bundling or self-hosting it). The only value
  // that differs from the local stack, where it is the emulator's copy.
  linkScriptUrl: "https://cdn.plaid.com/link/v2/stable/link-initialize.js",
  // No devIssuer in production. The app signs users in with its own identity provider (the one WEFT_AUTH_ISSUER
  // names, e.g. a Cognito user pool's hosted UI with the authorization code flow and PKCE) and hands weft the
  // access token whose `aud` is WEFT_AUTH_AUDIENCE. getAccessToken returns it (a fresh one when it expired),
  // or null when nobody is signed in (the app then calls signIn).
  getAccessToken: async () => window.myIdentityProvider.currentAccessToken(),
  signIn: () => window.myIdentityProvider.redirectToSignIn(),
  signOut: () => window.myIdentityProvider.signOut(),
  // The claim and group that make a token an operator's (WEFT_AUTH_OPERATOR_CLAIM / WEFT_AUTH_OPERATOR_GROUP).
  operatorClaim: "cognito:groups",
  operatorGroup: "weft-operators",
};
