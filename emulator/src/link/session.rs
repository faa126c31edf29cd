//! A Link session, step by step, the way Link runs it: open, pick an institution, log in (credentials or
//! the bank's OAuth page), select accounts, hand off. [`complete`] runs every step at once (the control
//! API's simulation); the web Link pages (`web.rs`) run one step per page. Both produce the same events.

use std::sync::Arc;

use serde_json::{Value, json};

use super::accounts::{Choice, account_metadata, choices, select};
use super::events::Events;
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

impl Session {
    /// Opens Link with `link_token`: `OPEN`, then the institution list (new link) or the Item's login (update
    /// mode). An unknown or expired token, or an update-mode Item that is gone, ends the session.
    pub fn open(app: &App, link_token: &str) -> Step<Self> {
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
        if let Some(inst) = update_institution {
            session.institution = Some(inst);
            session.events.institution = Some((inst.id.to_owned(), inst.name.to_owned()));
            session.enter_login()?;
        }
        Ok(session)
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
    pub fn select_institution(&mut self, inst: &'static Institution) -> Step<()> {
        self.institution = Some(inst);
        self.events.institution = Some((inst.id.to_owned(), inst.name.to_owned()));
        self.events.push("SELECT_INSTITUTION", Some("SELECT_INSTITUTION"), None, None);
        if !sandbox::institution_supports(inst, &self.record.products) {
            return Err(self.end(sandbox::products_not_supported(), Some("institution_not_supported")));
        }
        self.enter_login()
    }

    /// The login pane: the bank's OAuth hand-off (`OPEN_OAUTH`) or Link's credential form.
    fn enter_login(&mut self) -> Step<()> {
        if self.oauth() {
            if self.record.redirect_uri.is_none() {
                return Err(self.end(oauth_requires_redirect(), Some("requires_oauth")));
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
    pub fn log_in(&mut self, username: &str, password: &str) -> Step<()> {
        if !self.oauth() {
            self.events.push("SUBMIT_CREDENTIALS", Some("CREDENTIAL"), None, None);
        }
        self.events.new_request();
        if let Err(e) = sandbox::check_credentials(username, password) {
            return Err(self.end(e, Some("requires_credentials")));
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
            return Ok(*self.end(PlaidError::login_error("NO_ACCOUNTS"), Some("requires_account_selection")));
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
                return Ok(*self.end(PlaidError::item_not_found(), None));
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
        Ok(LinkOutcome {
            status: "success".to_owned(),
            public_token,
            metadata: Some(metadata),
            events: self.events.list,
            exit: None,
            item_id: Some(item_id),
        })
    }

    /// The user closes Link on the current pane: `EXIT`, and onExit with no error.
    pub fn close(mut self) -> LinkOutcome {
        let status = self.pane.exit_status();
        self.events.user_exit(status)
    }

    /// Ends the session with an error: the events and onExit Link reports.
    fn end(&mut self, error: PlaidError, status: Option<&str>) -> Box<LinkOutcome> {
        Box::new(self.events.exit(error, status))
    }
}

/// Runs a Link session to its end. Errors (HTTP 400) are reserved for a malformed simulation
/// request; everything Link itself would report comes back as an `exit` outcome.
pub fn complete(app: &Arc<App>, c: &LinkCompletion) -> Result<LinkOutcome, PlaidError> {
    let mut session = match Session::open(app, &c.link_token) {
        Ok(s) => s,
        Err(outcome) => return Ok(*outcome),
    };
    let chosen = match c.institution_id.as_deref() {
        Some(id) => Some(sandbox::institution(id).ok_or_else(PlaidError::invalid_institution)?),
        None => None,
    };
    if session.update_mode() {
        if let (Some(given), Some(inst)) = (chosen, session.institution)
            && given.id != inst.id
        {
            return Err(PlaidError::invalid_field(format!(
                "update mode: the Item belongs to {}, not {}",
                inst.id, given.id
            )));
        }
    } else {
        let inst = match chosen {
            Some(inst) => inst,
            None => sandbox::institution("ins_109508").ok_or_else(PlaidError::invalid_institution)?,
        };
        if let Err(outcome) = session.select_institution(inst) {
            return Ok(*outcome);
        }
    }
    let username = c.username.as_deref().unwrap_or(sandbox::GOOD_USERNAME);
    let password = c.password.as_deref().unwrap_or(sandbox::GOOD_PASSWORD);
    if let Err(outcome) = session.log_in(username, password) {
        return Ok(*outcome);
    }
    let offered = session.offered(app);
    let selected = if session.selecting() { select(c, &offered, session.update_mode())? } else { offered };
    if selected.is_empty() {
        return session.finish(app, selected);
    }
    if session.selecting() {
        session.enter_account_selection();
    }
    session.finish(app, selected)
}
