//! A Link session, step by step, the way Link runs it: open, pick an institution, log in (credentials or
//! the bank's OAuth page), select accounts, hand off. [`complete`] runs every step at once (the control
//! API's simulation); the web Link pages (`web.rs`) run one step per page. Both produce the same events.

use std::sync::Arc;

use serde_json::{Value, json};

use super::accounts::{Choice, account_metadata, choices, select};
use super::events::Events;
use super::record;
use super::{LinkCompletion, LinkOutcome};
use crate::app::App;
use crate::items::{self, NewItem};
use crate::sandbox::{self, Account, Institution};
use crate::state::LinkTokenRecord;
use crate::wire::PlaidError;

pub fn oauth_requires_redirect() -> PlaidError {
    PlaidError::invalid_field("OAuth institutions require a redirect_uri: create the link token with redirect_uri set")
}

/// A step either moves the session on or ends it with onExit (the outcome to hand the app).
pub type Step<T> = Result<T, Box<LinkOutcome>>;

/// Which pane the user is on: what onExit's `status` says when they close Link there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    SelectInstitution,
    Credentials,
    OAuth,
    SelectAccount,
}

impl Pane {
    /// onExit's `metadata.status` for a user who closes Link on this pane (Plaid's documented values;
    /// null before an institution is chosen).
    pub fn exit_status(self) -> Option<&'static str> {
        match self {
            Self::SelectInstitution => None,
            Self::Credentials => Some("requires_credentials"),
            Self::OAuth => Some("requires_oauth"),
            Self::SelectAccount => Some("requires_account_selection"),
        }
    }
}

/// A Link session in progress.
pub struct Session {
    pub link_token: String,
    pub record: LinkTokenRecord,
    pub events: Events,
    pub institution: Option<&'static Institution>,
    pub pane: Pane,
    /// The login that passed (username), once it has.
    pub username: Option<String>,
}

/// The outcome of a session that ended, recorded (for `/link/token/get`) and announced (LINK webhooks).
fn ended(app: &Arc<App>, session: &Session, outcome: LinkOutcome) -> LinkOutcome {
    record::ended(app, session, &outcome);
    outcome
}

impl Session {
    /// Opens Link with `link_token`: `OPEN`, then the institution list (new link) or the Item's login (update
    /// mode). An unknown or expired token, or an update-mode Item that is gone, ends the session.
    pub fn open(app: &Arc<App>, link_token: &str) -> Step<Self> {
        let now = app.clock.now();
        let mut events = Events::new(now);
        let record = app.lock_state().link_tokens.get(link_token).cloned();
        let Some(record) = record else {
            return Err(Box::new(events.exit(PlaidError::invalid_link_token("invalid link_token provided"), None)));
        };
        if now.unix_timestamp() >= record.expires_at {
            return Err(Box::new(events.exit(PlaidError::invalid_link_token("link token has expired"), None)));
        }
        let update_institution = match &record.update_item_id {
            Some(item_id) => {
                let inst_id =
                    app.lock_state().items.get(item_id).filter(|i| !i.removed).map(|i| i.institution_id.clone());
                events.push("OPEN", None, None, None);
                let Some(inst) = inst_id.as_deref().and_then(sandbox::institution) else {
                    return Err(Box::new(events.exit(PlaidError::item_not_found(), None)));
                };
                Some(inst)
            }
            None => {
                events.push("OPEN", None, None, None);
                events.push("TRANSITION_VIEW", Some("CONSENT"), None, None);
                events.push("TRANSITION_VIEW", Some("SELECT_INSTITUTION"), None, None);
                None
            }
        };
        let mut session = Self {
            link_token: link_token.to_owned(),
            record,
            events,
            institution: None,
            pane: Pane::SelectInstitution,
            username: None,
        };
        record::started(app, &session);
        if let Some(inst) = update_institution {
            session.institution = Some(inst);
            session.events.institution = Some((inst.id.to_owned(), inst.name.to_owned()));
            session.enter_login(app)?;
        }
        Ok(session)
    }

    /// A session started earlier and not finished (`POST /__emulator/link/start`), from its record: it goes
    /// on from the pane it was left on (the institution's login once one was picked). INVALID_FIELD when the
    /// id names no unfinished session of this link token.
    pub fn restore(app: &Arc<App>, link_token: &str, link_session_id: &str) -> Result<Step<Self>, PlaidError> {
        let (rec, record) = {
            let state = app.lock_state();
            let rec = state
                .link_sessions
                .get(link_session_id)
                .filter(|r| r.link_token == link_token && r.finished_at_ms.is_none())
                .cloned();
            (rec, state.link_tokens.get(link_token).cloned())
        };
        let (Some(rec), Some(record)) = (rec, record) else {
            return Err(PlaidError::invalid_field(
                "link_session_id must name an unfinished Link session of this link_token",
            ));
        };
        let institution = rec.institution.as_ref().and_then(|(id, _)| sandbox::institution(id));
        let mut session = Self {
            link_token: link_token.to_owned(),
            record,
            events: Events::restore(&rec),
            institution,
            pane: Pane::SelectInstitution,
            username: None,
        };
        if app.clock.unix() >= session.record.expires_at {
            let outcome = session.end(app, PlaidError::invalid_link_token("link token has expired"), None);
            return Ok(Err(outcome));
        }
        if session.institution.is_some() {
            session.pane = if session.oauth() { Pane::OAuth } else { Pane::Credentials };
        }
        Ok(Ok(session))
    }

    /// Whether this is a Hosted Link session.
    pub fn hosted(&self) -> bool {
        self.record.hosted.is_some()
    }

    /// Records the events so far (what `/link/token/get` shows of a session still running).
    pub fn checkpoint(&self, app: &App) {
        record::checkpoint(app, self);
    }

    pub fn update_mode(&self) -> bool {
        self.record.update_item_id.is_some()
    }

    /// Whether the user selects accounts (always for a new link; in update mode only with
    /// `update.account_selection_enabled`).
    pub fn selecting(&self) -> bool {
        !self.update_mode() || self.record.account_selection_enabled
    }

    /// Whether the user logs in at the bank's OAuth page rather than with credentials in Link.
    pub fn oauth(&self) -> bool {
        self.institution.is_some_and(|i| i.oauth)
    }

    /// The user picks an institution (new link only): `SELECT_INSTITUTION`, then its login pane. An institution
    /// without the token's products, or an OAuth one for a token without `redirect_uri`, ends the session.
    pub fn select_institution(&mut self, app: &Arc<App>, inst: &'static Institution) -> Step<()> {
        self.institution = Some(inst);
        self.events.institution = Some((inst.id.to_owned(), inst.name.to_owned()));
        self.events.push("SELECT_INSTITUTION", Some("SELECT_INSTITUTION"), None, None);
        if !sandbox::institution_supports(inst, &self.record.products) {
            return Err(self.end(app, sandbox::products_not_supported(), Some("institution_not_supported")));
        }
        self.enter_login(app)
    }

    /// The login pane: the bank's OAuth hand-off (`OPEN_OAUTH`) or Link's credential form.
    fn enter_login(&mut self, app: &Arc<App>) -> Step<()> {
        if self.oauth() {
            // Hosted Link brings the user back from the bank itself; embedded Link needs the app's redirect_uri.
            if self.record.redirect_uri.is_none() && !self.hosted() {
                return Err(self.end(app, oauth_requires_redirect(), Some("requires_oauth")));
            }
            self.events.push("TRANSITION_VIEW", Some("OAUTH"), None, None);
            self.events.push("OPEN_OAUTH", Some("OAUTH"), None, None);
            self.pane = Pane::OAuth;
        } else {
            self.events.push("TRANSITION_VIEW", Some("CREDENTIAL"), None, None);
            self.pane = Pane::Credentials;
        }
        Ok(())
    }

    /// The user logs in (in Link, or at the bank for OAuth): `SUBMIT_CREDENTIALS` (not for OAuth), then
    /// loading. Wrong credentials (or `error_<CODE>`) end the session.
    pub fn log_in(&mut self, app: &Arc<App>, username: &str, password: &str) -> Step<()> {
        if !self.oauth() {
            self.events.push("SUBMIT_CREDENTIALS", Some("CREDENTIAL"), None, None);
        }
        self.events.new_request();
        if let Err(e) = sandbox::check_credentials(username, password) {
            return Err(self.end(app, e, Some("requires_credentials")));
        }
        self.username = Some(username.to_owned());
        self.events.push("TRANSITION_VIEW", Some("LOADING"), None, None);
        Ok(())
    }

    /// The accounts Link offers.
    pub fn offered(&self, app: &App) -> Vec<Choice> {
        choices(app, &self.record)
    }

    /// The account selection pane (only when [`Session::selecting`]).
    pub fn enter_account_selection(&mut self) {
        self.events.push("TRANSITION_VIEW", Some("SELECT_ACCOUNT"), None, None);
        self.pane = Pane::SelectAccount;
    }

    /// Hands off with `selected`: creates the Item (new link) or repairs it (update mode); `CONNECTED`,
    /// `HANDOFF` and onSuccess. Nothing selected ends the session with NO_ACCOUNTS.
    pub fn finish(mut self, app: &Arc<App>, selected: Vec<Choice>) -> Result<LinkOutcome, PlaidError> {
        if selected.is_empty() {
            return Ok(*self.end(app, PlaidError::login_error("NO_ACCOUNTS"), Some("requires_account_selection")));
        }
        let inst = self.institution.ok_or_else(PlaidError::invalid_institution)?;
        let now = app.clock.now();
        self.events.push("TRANSITION_VIEW", Some("CONNECTED"), None, None);
        self.events.push("HANDOFF", None, None, None);
        let username = self.username.clone().unwrap_or_else(|| sandbox::GOOD_USERNAME.to_owned());
        let (public_token, item_id, accounts) = if let Some(item_id) = &self.record.update_item_id {
            let new_ids: Vec<String> = selected.iter().filter_map(|s| s.account_id.clone()).collect();
            let mut state = app.lock_state();
            let Some(item) = state.items.get_mut(item_id).filter(|i| !i.removed) else {
                drop(state);
                return Ok(*self.end(app, PlaidError::item_not_found(), None));
            };
            items::repair(item, &new_ids);
            let accounts: Vec<Value> =
                item.visible_accounts().filter(|a| new_ids.contains(&a.account_id)).map(account_metadata).collect();
            (None, item_id.clone(), accounts)
        } else {
            let masks: Vec<String> = selected.iter().map(|s| s.mask.clone()).collect();
            let pick = |a: &Account| masks.contains(&a.mask);
            let delay = app.history_delay_secs();
            let mut state = app.lock_state();
            let (item_id, public_token) = items::create_item(
                &mut state,
                NewItem {
                    institution: inst,
                    username: &username,
                    products: self.record.products.clone(),
                    webhook: self.record.webhook.clone(),
                    client_user_id: self.record.client_user_id.clone(),
                    select: &pick,
                },
                now,
                app.seed(),
                delay,
            )?;
            let accounts = state
                .items
                .get(&item_id)
                .map(|i| i.visible_accounts().map(account_metadata).collect())
                .unwrap_or_default();
            (Some(public_token), item_id, accounts)
        };
        app.changed();
        let metadata = json!({
            "institution": self.events.institution_json(),
            "accounts": accounts,
            "link_session_id": self.events.session,
            "transfer_status": null,
        });
        let outcome = LinkOutcome {
            status: "success".to_owned(),
            public_token,
            metadata: Some(metadata),
            events: std::mem::take(&mut self.events.list),
            exit: None,
            item_id: Some(item_id),
        };
        Ok(ended(app, &self, outcome))
    }

    /// The user closes Link on the current pane: `EXIT`, and onExit with no error.
    pub fn close(mut self, app: &Arc<App>) -> LinkOutcome {
        let status = self.pane.exit_status();
        let outcome = self.events.user_exit(status);
        ended(app, &self, outcome)
    }

    /// Ends the session with an error: the events and onExit Link reports.
    fn end(&mut self, app: &Arc<App>, error: PlaidError, status: Option<&str>) -> Box<LinkOutcome> {
        let outcome = self.events.exit(error, status);
        Box::new(ended(app, self, outcome))
    }
}

/// Runs a Link session to its end (or, with `link_session_id`, the rest of a session started by
/// `POST /__emulator/link/start`). Errors (HTTP 400) are reserved for a malformed simulation request (the
/// session is then forgotten, or left as it was when it was started earlier); everything Link itself would
/// report comes back as an `exit` outcome.
pub fn complete(app: &Arc<App>, c: &LinkCompletion) -> Result<LinkOutcome, PlaidError> {
    let chosen = match c.institution_id.as_deref() {
        Some(id) => Some(sandbox::institution(id).ok_or_else(PlaidError::invalid_institution)?),
        None => None,
    };
    let restored = c.link_session_id.is_some();
    let opened = match c.link_session_id.as_deref() {
        Some(id) => Session::restore(app, &c.link_token, id)?,
        None => Session::open(app, &c.link_token),
    };
    let mut session = match opened {
        Ok(s) => s,
        Err(outcome) => return Ok(*outcome),
    };
    let refuse = |session: &Session, e: PlaidError| {
        if !restored {
            record::discard(app, session);
        }
        Err(e)
    };
    match (chosen, session.institution) {
        (Some(given), Some(inst)) if given.id != inst.id => {
            let e = PlaidError::invalid_field(format!(
                "the session's institution is {}, not {} (update mode: the Item's; or picked when it started)",
                inst.id, given.id
            ));
            return refuse(&session, e);
        }
        (_, Some(_)) => {}
        (given, None) => {
            let inst = match given {
                Some(inst) => inst,
                None => sandbox::institution("ins_109508").ok_or_else(PlaidError::invalid_institution)?,
            };
            if let Err(outcome) = session.select_institution(app, inst) {
                return Ok(*outcome);
            }
        }
    }
    let username = c.username.as_deref().unwrap_or(sandbox::GOOD_USERNAME);
    let password = c.password.as_deref().unwrap_or(sandbox::GOOD_PASSWORD);
    if let Err(outcome) = session.log_in(app, username, password) {
        return Ok(*outcome);
    }
    let offered = session.offered(app);
    let selected = if session.selecting() {
        match select(c, &offered, session.update_mode()) {
            Ok(selected) => selected,
            Err(e) => return refuse(&session, e),
        }
    } else {
        offered
    };
    if selected.is_empty() {
        return session.finish(app, selected);
    }
    if session.selecting() {
        session.enter_account_selection();
    }
    session.finish(app, selected)
}

/// Starts a session and leaves it open (a user who closes the tab): `OPEN`, the institution list, and
/// `SELECT_INSTITUTION` with the institution's login pane when `institution_id` is given. Returns the
/// `link_session_id` (finish it with [`complete`] and that id) and whether it already ended (an unknown or
/// expired token, an institution that cannot serve the token: the outcome is then recorded as usual).
pub fn start(app: &Arc<App>, link_token: &str, institution_id: Option<&str>) -> Result<(String, bool), PlaidError> {
    let inst = match institution_id {
        Some(id) => Some(sandbox::institution(id).ok_or_else(PlaidError::invalid_institution)?),
        None => None,
    };
    let mut session = match Session::open(app, link_token) {
        Ok(s) => s,
        Err(outcome) => {
            let id = outcome.exit.as_ref().and_then(|e| e["metadata"]["link_session_id"].as_str()).unwrap_or_default();
            return Ok((id.to_owned(), true));
        }
    };
    let id = session.events.session.clone();
    if let Some(inst) = inst.filter(|_| !session.update_mode())
        && session.select_institution(app, inst).is_err()
    {
        return Ok((id, true));
    }
    session.checkpoint(app);
    Ok((id, false))
}
