/*
 * Plaid emulator: the script of the web Link pages (inside the overlay iframe that link-initialize.js opens).
 * It posts the page's messages (#plaid-link-messages) to the parent window, pinned to the origin the app
 * declared when it opened Link (#plaid-link-config), and refuses to run when the page is not framed by that
 * origin. It obeys handler.exit() (a message from the parent) and sends the page to the bank for OAuth.
 */
(function () {
  'use strict';
  var config = JSON.parse(document.getElementById('plaid-link-config').textContent);
  var messages = JSON.parse(document.getElementById('plaid-link-messages').textContent);
  var ancestors = window.location.ancestorOrigins;
  var framedByApp = window.parent !== window &&
    !(ancestors && ancestors.length > 0 && ancestors[0] !== config.origin);
  if (!framedByApp) {
    var notice = document.createElement('p');
    notice.id = 'plaid-link-not-framed';
    notice.textContent = 'This Link page reports to the app at ' + config.origin +
      ' and only runs inside it (Plaid.create(...).open()).';
    document.body.insertBefore(notice, document.body.firstChild);
    return;
  }
  function post(m) {
    window.parent.postMessage(m, config.origin);
  }
  messages.forEach(post);
  window.addEventListener('message', function (e) {
    if (e.source !== window.parent || e.origin !== config.origin) {
      return;
    }
    var d = e.data;
    if (d && d.source === 'plaid-link-handler' && d.channel === config.channel && d.action === 'exit') {
      var form = document.getElementById('plaid-link-exit');
      if (form) {
        form.submit();
      }
    }
  });
  var go = document.getElementById('plaid-link-oauth-continue');
  if (go) {
    go.addEventListener('click', function () {
      post({ source: 'plaid-emulator-link', channel: config.channel, action: 'oauth_redirect',
        url: new URL(go.dataset.url, window.location.href).href });
    });
  }
})();
