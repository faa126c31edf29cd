/*
 * Plaid emulator: Plaid Link's web SDK (what https://cdn.plaid.com/link/v2/stable/link-initialize.js defines),
 * served by the emulator at /link/v2/stable/link-initialize.js. An app loads it with a <script> tag and uses
 * the same API as with Plaid's:
 *
 *   const handler = Plaid.create({token, onSuccess, onExit, onEvent, onLoad, receivedRedirectUri});
 *   handler.open(); handler.exit({force: true}); handler.destroy(); handler.submit(data);
 *
 * open() shows the emulator's Link pages in an overlay iframe. The pages report each step to this window with
 * postMessage (pinned to this window's origin); this script accepts messages only from that iframe, from the
 * emulator's origin, on the channel of the current open(), and turns them into the callbacks:
 *   onEvent(eventName, metadata), onSuccess(public_token, metadata), onExit(error, metadata).
 * OAuth institutions send the whole page to the bank; the bank redirects to the link token's redirect_uri with
 * ?oauth_state_id=...; the app then calls Plaid.create({token, receivedRedirectUri: window.location.href, ...})
 * and open() again, and Link resumes the session.
 */
(function () {
  'use strict';
  if (window.Plaid && window.Plaid.emulator === true) {
    return;
  }
  var script = document.currentScript;
  if (!script || !script.src) {
    throw new Error('link-initialize.js must be loaded with a <script src> tag');
  }
  var LINK_ORIGIN = new URL(script.src).origin;
  var SOURCE = 'plaid-emulator-link';
  var opened = 0;

  function randomChannel() {
    var bytes = new Uint8Array(12);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ('0' + b.toString(16)).slice(-2); }).join('');
  }

  function call(fn, args) {
    if (typeof fn === 'function') {
      fn.apply(null, args);
    }
  }

  function create(config) {
    if (!config || typeof config.token !== 'string' || config.token === '') {
      throw new Error('Plaid.create: a link token (config.token) is required');
    }
    var token = config.token;
    var overlay = null;
    var frame = null;
    var channel = null;
    var destroyed = false;

    function close() {
      if (overlay && overlay.parentNode) {
        overlay.parentNode.removeChild(overlay);
      }
      overlay = null;
      frame = null;
      channel = null;
    }

    function onMessage(e) {
      if (!frame || e.source !== frame.contentWindow || e.origin !== LINK_ORIGIN) {
        return;
      }
      var m = e.data;
      if (!m || m.source !== SOURCE || m.channel !== channel) {
        return;
      }
      switch (m.action) {
        case 'event':
          call(config.onEvent, [m.event_name, m.metadata]);
          break;
        case 'success':
          close();
          call(config.onSuccess, [m.public_token, m.metadata]);
          break;
        case 'exit':
          close();
          call(config.onExit, [m.error, m.metadata]);
          break;
        case 'oauth_redirect':
          // Link sends the whole page to the bank's OAuth page (on the emulator), never elsewhere.
          if (typeof m.url === 'string' && new URL(m.url).origin === LINK_ORIGIN) {
            window.location.assign(m.url);
          }
          break;
        default:
          break;
      }
    }
    window.addEventListener('message', onMessage);

    function frameUrl() {
      var params = new URLSearchParams();
      params.set('token', token);
      params.set('origin', window.location.origin);
      params.set('channel', channel);
      if (typeof config.receivedRedirectUri === 'string' && config.receivedRedirectUri !== '') {
        var received = new URL(config.receivedRedirectUri, window.location.href);
        params.set('received_redirect_uri', received.href);
        params.set('oauth_state_id', received.searchParams.get('oauth_state_id') || '');
      }
      return LINK_ORIGIN + '/__emulator/link/web?' + params.toString();
    }

    var handler = {
      open: function () {
        if (destroyed || overlay) {
          return;
        }
        opened += 1;
        channel = randomChannel();
        overlay = document.createElement('div');
        overlay.id = 'plaid-link-overlay-' + opened;
        overlay.setAttribute('role', 'dialog');
        overlay.setAttribute('aria-modal', 'true');
        overlay.setAttribute('aria-label', 'Plaid Link');
        overlay.style.cssText = 'position:fixed;inset:0;z-index:2147483647;background:rgba(0,0,0,.55);' +
          'display:flex;align-items:center;justify-content:center';
        frame = document.createElement('iframe');
        frame.id = 'plaid-link-iframe-' + opened;
        frame.title = 'Plaid Link';
        frame.src = frameUrl();
        frame.style.cssText = 'width:min(420px,100vw);height:min(640px,100vh);border:0;border-radius:12px;' +
          'background:#fff;box-shadow:0 8px 40px rgba(0,0,0,.35)';
        overlay.appendChild(frame);
        document.body.appendChild(overlay);
      },
      exit: function (options) {
        if (!frame) {
          return;
        }
        // Link ends the session itself (onExit with the pane's status), as Plaid's does.
        frame.contentWindow.postMessage(
          { source: 'plaid-link-handler', channel: channel, action: 'exit', force: !!(options && options.force) },
          LINK_ORIGIN
        );
      },
      destroy: function () {
        destroyed = true;
        window.removeEventListener('message', onMessage);
        close();
      },
      submit: function () {
        // Plaid's submit() passes data (a phone number) to Layer sessions; the emulator has none.
      }
    };
    if (typeof config.onLoad === 'function') {
      Promise.resolve().then(function () {
        if (!destroyed) {
          config.onLoad();
        }
      });
    }
    return handler;
  }

  window.Plaid = { create: create, version: 'emulator', emulator: true };
})();
