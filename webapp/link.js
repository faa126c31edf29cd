// Plaid Link through Plaid's web SDK (Plaid.create), loaded from config.linkScriptUrl: Plaid's CDN in
// production, the emulator's copy locally. Every callback is forwarded to weft (POST /link/events), as Plaid
// recommends for conversion analytics; onSuccess of a new link exchanges the public token; onSuccess in update
// mode tells weft the item was repaired (weft confirms it with Plaid).

const PENDING = 'weft.link';

let scriptLoaded = null;

/** Loads Plaid's script once. */
export function loadLinkScript(url) {
  if (!scriptLoaded) {
    scriptLoaded = new Promise((resolve, reject) => {
      const s = document.createElement('script');
      s.src = url;
      s.async = true;
      s.onload = () => (window.Plaid ? resolve(window.Plaid) : reject(new Error('Plaid Link did not load')));
      s.onerror = () => reject(new Error('Plaid Link could not be loaded'));
      document.head.appendChild(s);
    });
  }
  return scriptLoaded;
}

/** The link session an OAuth redirect interrupted (saved before Link sent the page to the bank). */
export function pendingLink() {
  try {
    return JSON.parse(sessionStorage.getItem(PENDING) || 'null');
  } catch {
    return null;
  }
}

function eventRecord(kind, linkToken, fields) {
  return {
    kind,
    link_token: linkToken,
    link_session_id: fields.link_session_id,
    event_name: fields.event_name ?? null,
    request_id: fields.request_id ?? null,
    institution_id: fields.institution_id ?? null,
    institution_name: fields.institution_name ?? null,
    error_type: fields.error_type ?? null,
    error_code: fields.error_code ?? null,
    error_message: fields.error_message ?? null,
    exit_status: fields.exit_status ?? null,
    view_name: fields.view_name ?? null,
    timestamp: fields.timestamp ?? new Date().toISOString(),
  };
}

/**
 * Runs Link once. `session`: {link_token, mode: "create"|"update", item_id?} (as POST /link/token answers). Resolves with
 * {status: "success", item?} or {status: "exit", error}.
 */
export async function runLink({ api, scriptUrl, session, receivedRedirectUri }) {
  const Plaid = await loadLinkScript(scriptUrl);
  const token = session.link_token;
  // Events go to weft in order, one request after the other; the last one is awaited before answering.
  let sent = Promise.resolve();
  const report = (record) => {
    if (!record.link_session_id) {
      return sent;
    }
    sent = sent.then(() => api.linkEvents([record])).catch((e) => console.warn('link event not recorded', e));
    return sent;
  };
  sessionStorage.setItem(PENDING, JSON.stringify(session));
  return new Promise((resolve, reject) => {
    const handler = Plaid.create({
      token,
      receivedRedirectUri,
      onEvent: (eventName, metadata) => {
        report(eventRecord('EVENT', token, { ...metadata, event_name: eventName }));
      },
      onExit: async (error, metadata) => {
        sessionStorage.removeItem(PENDING);
        const inst = metadata.institution || {};
        await report(eventRecord('EXIT', token, {
          ...(error || {}),
          link_session_id: metadata.link_session_id,
          request_id: metadata.request_id,
          institution_id: inst.institution_id,
          institution_name: inst.name,
          exit_status: metadata.status,
        }));
        handler.destroy();
        resolve({ status: 'exit', error });
      },
      onSuccess: async (publicToken, metadata) => {
        sessionStorage.removeItem(PENDING);
        const inst = metadata.institution || {};
        const success = eventRecord('SUCCESS', token, {
          link_session_id: metadata.link_session_id,
          institution_id: inst.institution_id,
          institution_name: inst.name,
        });
        handler.destroy();
        try {
          if (session.mode === 'update') {
            // This report is what repairs the item (weft asks Plaid first): its failure is the outcome's.
            await sent;
            await api.linkEvents([success]);
            resolve({ status: 'success' });
          } else {
            await report(success);
            const { item } = await api.exchange(publicToken, metadata);
            resolve({ status: 'success', item });
          }
        } catch (e) {
          reject(e);
        }
      },
    });
    handler.open();
  });
}
