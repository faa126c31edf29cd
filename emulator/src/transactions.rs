//! Transactions: a seeded, deterministic history per Item, an append-only change log, opaque
//! cursors into that log, and `/transactions/sync` paging over the net changes since a cursor.
//!
//! The log is the single source of truth. A cursor names a position in it; a sync page returns the
//! net effect of the entries between the cursor's position and the log's end (a transaction added
//! and then removed in that span does not appear at all; one that existed before and changed
//! appears once, in `modified`, with its latest version). While a client pages through one span
//! (`has_more` true), its cursors also carry the span's end; if the log grew since, the next page
//! fails with TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION, as Plaid's does.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use sha2::{Digest, Sha256};
use time::{Date, Duration};

use crate::clock::ymd;
use crate::sandbox::Account;

/// The 8 nullable keys of a transaction's `location`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Location {
    pub address: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub store_number: Option<String>,
}

/// The 8 nullable keys of a transaction's `payment_meta`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PaymentMeta {
    pub by_order_of: Option<String>,
    pub payee: Option<String>,
    pub payer: Option<String>,
    pub payment_method: Option<String>,
    pub payment_processor: Option<String>,
    pub ppd_id: Option<String>,
    pub reason: Option<String>,
    pub reference_number: Option<String>,
}

/// One transaction, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Txn {
    pub transaction_id: String,
    pub account_id: String,
    /// Amount in cents; positive is money out of the account (Plaid's convention).
    pub amount_cents: i64,
    pub iso_currency_code: String,
    /// `YYYY-MM-DD`.
    pub date: String,
    pub authorized_date: Option<String>,
    pub name: String,
    pub merchant_name: Option<String>,
    pub pending: bool,
    pub pending_transaction_id: Option<String>,
    /// `online`, `in store` or `other`.
    pub payment_channel: String,
    /// `digital`, `place`, `special` or `unresolved`.
    pub transaction_type: String,
    pub category: Vec<String>,
    pub category_id: String,
    pub pfc_primary: String,
    pub pfc_detailed: String,
    pub location: Location,
    pub payment_meta: PaymentMeta,
    pub website: Option<String>,
}

impl Txn {
    pub fn amount(&self) -> f64 {
        self.amount_cents as f64 / 100.0
    }
}

/// Options of a sync that shape the transaction objects.
#[derive(Debug, Clone, Copy, Default)]
pub struct WireOptions {
    pub include_personal_finance_category: bool,
    pub include_original_description: bool,
}

/// A transaction as `/transactions/sync` serialises it.
pub struct WireTxn<'a> {
    pub txn: &'a Txn,
    pub options: WireOptions,
}

impl Serialize for WireTxn<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = self.txn;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("account_id", &t.account_id)?;
        m.serialize_entry("account_owner", &None::<String>)?;
        m.serialize_entry("amount", &t.amount())?;
        m.serialize_entry("authorized_date", &t.authorized_date)?;
        m.serialize_entry("authorized_datetime", &None::<String>)?;
        m.serialize_entry("category", &t.category)?;
        m.serialize_entry("category_id", &t.category_id)?;
        m.serialize_entry("check_number", &None::<String>)?;
        m.serialize_entry("counterparties", &Vec::<()>::new())?;
        m.serialize_entry("date", &t.date)?;
        m.serialize_entry("datetime", &None::<String>)?;
        m.serialize_entry("iso_currency_code", &t.iso_currency_code)?;
        m.serialize_entry("location", &t.location)?;
        m.serialize_entry("logo_url", &None::<String>)?;
        m.serialize_entry("merchant_entity_id", &None::<String>)?;
        m.serialize_entry("merchant_name", &t.merchant_name)?;
        m.serialize_entry("name", &t.name)?;
        let original = self.options.include_original_description.then(|| t.name.to_uppercase());
        m.serialize_entry("original_description", &original)?;
        m.serialize_entry("payment_channel", &t.payment_channel)?;
        m.serialize_entry("payment_meta", &t.payment_meta)?;
        m.serialize_entry("pending", &t.pending)?;
        m.serialize_entry("pending_transaction_id", &t.pending_transaction_id)?;
        if self.options.include_personal_finance_category {
            m.serialize_entry(
                "personal_finance_category",
                &Pfc { primary: &t.pfc_primary, detailed: &t.pfc_detailed, confidence_level: "VERY_HIGH" },
            )?;
        }
        m.serialize_entry("transaction_code", &None::<String>)?;
        m.serialize_entry("transaction_id", &t.transaction_id)?;
        m.serialize_entry("transaction_type", &t.transaction_type)?;
        m.serialize_entry("unofficial_currency_code", &None::<String>)?;
        m.serialize_entry("website", &t.website)?;
        m.end()
    }
}

#[derive(Serialize)]
struct Pfc<'a> {
    primary: &'a str,
    detailed: &'a str,
    confidence_level: &'a str,
}

/// One entry of an Item's change log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Change {
    Added(Arc<Txn>),
    Modified(Arc<Txn>),
    Removed { transaction_id: String, account_id: String },
}

impl Change {
    fn transaction_id(&self) -> &str {
        match self {
            Change::Added(t) | Change::Modified(t) => &t.transaction_id,
            Change::Removed { transaction_id, .. } => transaction_id,
        }
    }
}

/// A net change between two log positions.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    Added(Arc<Txn>),
    Modified(Arc<Txn>),
    Removed { transaction_id: String, account_id: String },
}

impl Update {
    fn account_id(&self) -> &str {
        match self {
            Update::Added(t) | Update::Modified(t) => &t.account_id,
            Update::Removed { account_id, .. } => account_id,
        }
    }
}

/// An Item's append-only change log, plus an index of the current transactions.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TxLog {
    entries: Vec<Change>,
    #[serde(skip)]
    current: HashMap<String, Arc<Txn>>,
}

impl TxLog {
    /// A log from persisted entries (rebuilds the index).
    pub fn from_entries(entries: Vec<Change>) -> Self {
        let mut log = TxLog { entries: Vec::new(), current: HashMap::new() };
        for e in entries {
            log.push(e);
        }
        log
    }

    /// Rebuilds the index after deserialising.
    pub fn reindex(&mut self) {
        let entries = std::mem::take(&mut self.entries);
        *self = Self::from_entries(entries);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn entries(&self) -> &[Change] {
        &self.entries
    }

    pub fn push(&mut self, change: Change) {
        match &change {
            Change::Added(t) | Change::Modified(t) => {
                self.current.insert(t.transaction_id.clone(), Arc::clone(t));
            }
            Change::Removed { transaction_id, .. } => {
                self.current.remove(transaction_id);
            }
        }
        self.entries.push(change);
    }

    pub fn get(&self, transaction_id: &str) -> Option<&Arc<Txn>> {
        self.current.get(transaction_id)
    }

    /// Whether a transaction with this id ever existed (ids are never reused).
    pub fn ever_had(&self, transaction_id: &str) -> bool {
        self.current.contains_key(transaction_id) || self.entries.iter().any(|e| e.transaction_id() == transaction_id)
    }

    /// The current transactions, newest date first.
    pub fn current(&self) -> Vec<Arc<Txn>> {
        let mut all: Vec<Arc<Txn>> = self.current.values().cloned().collect();
        all.sort_by(|a, b| b.date.cmp(&a.date).then_with(|| a.transaction_id.cmp(&b.transaction_id)));
        all
    }

    /// The net changes between positions `from` and `to` (`from <= to <= len`), in order of each
    /// transaction's first change in the span.
    pub fn net_updates(&self, from: usize, to: usize) -> Vec<Update> {
        let to = to.min(self.entries.len());
        let from = from.min(to);
        let span = &self.entries[from..to];
        // For each transaction touched in the span: (first index, existed before, last change).
        let mut order: Vec<&str> = Vec::new();
        let mut seen: HashMap<&str, (bool, &Change)> = HashMap::new();
        for change in span {
            let id = change.transaction_id();
            match seen.get_mut(id) {
                Some(entry) => entry.1 = change,
                None => {
                    let existed_before = !matches!(change, Change::Added(_));
                    seen.insert(id, (existed_before, change));
                    order.push(id);
                }
            }
        }
        let mut out = Vec::with_capacity(order.len());
        for id in order {
            let Some((existed, last)) = seen.get(id) else {
                continue;
            };
            match (existed, last) {
                (true, Change::Added(t) | Change::Modified(t)) => out.push(Update::Modified(Arc::clone(t))),
                (false, Change::Added(t) | Change::Modified(t)) => out.push(Update::Added(Arc::clone(t))),
                (true, Change::Removed { transaction_id, account_id }) => {
                    out.push(Update::Removed { transaction_id: transaction_id.clone(), account_id: account_id.clone() })
                }
                (false, Change::Removed { .. }) => {}
            }
        }
        out
    }
}

// ---- cursors ---------------------------------------------------------------------------------

/// A position in an Item's log, and (mid-pagination) the span being paged and the offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub from: u32,
    pub to: u32,
    pub offset: u32,
}

impl Cursor {
    /// A settled cursor: everything up to `pos` has been seen.
    pub fn at(pos: u32) -> Self {
        Cursor { from: pos, to: pos, offset: 0 }
    }

    /// Whether this cursor was issued with `has_more: true`.
    pub fn is_mid_pagination(&self) -> bool {
        self.offset > 0
    }

    fn tag(&self, item_id: &str, seed: u64) -> [u8; 8] {
        let mut h = Sha256::new();
        h.update(b"plaid-emulator cursor v1");
        h.update(seed.to_le_bytes());
        h.update(item_id.as_bytes());
        h.update(self.from.to_be_bytes());
        h.update(self.to.to_be_bytes());
        h.update(self.offset.to_be_bytes());
        let digest = h.finalize();
        let mut tag = [0u8; 8];
        tag.copy_from_slice(&digest[..8]);
        tag
    }

    fn mask(item_id: &str, seed: u64, tag: &[u8; 8]) -> [u8; 13] {
        let mut h = Sha256::new();
        h.update(b"plaid-emulator cursor mask");
        h.update(seed.to_le_bytes());
        h.update(item_id.as_bytes());
        h.update(tag);
        let digest = h.finalize();
        let mut mask = [0u8; 13];
        mask.copy_from_slice(&digest[..13]);
        mask
    }

    /// The opaque string form: base64 of version and positions (masked with a keystream bound to
    /// the Item) and a tag that authenticates them.
    pub fn encode(&self, item_id: &str, seed: u64) -> String {
        let tag = self.tag(item_id, seed);
        let mut bytes = Vec::with_capacity(21);
        bytes.push(1u8);
        bytes.extend_from_slice(&self.from.to_be_bytes());
        bytes.extend_from_slice(&self.to.to_be_bytes());
        bytes.extend_from_slice(&self.offset.to_be_bytes());
        for (b, m) in bytes.iter_mut().zip(Self::mask(item_id, seed, &tag)) {
            *b ^= m;
        }
        bytes.extend_from_slice(&tag);
        STANDARD.encode(bytes)
    }

    /// Parses a cursor issued for this Item; `None` if it is malformed or belongs elsewhere.
    pub fn decode(s: &str, item_id: &str, seed: u64) -> Option<Cursor> {
        let mut bytes = STANDARD.decode(s).ok()?;
        if bytes.len() != 21 {
            return None;
        }
        let tag: [u8; 8] = bytes.get(13..21)?.try_into().ok()?;
        for (b, m) in bytes.iter_mut().zip(Self::mask(item_id, seed, &tag)) {
            *b ^= m;
        }
        if bytes[0] != 1 {
            return None;
        }
        let word = |i: usize| -> Option<u32> {
            let b: [u8; 4] = bytes.get(i..i + 4)?.try_into().ok()?;
            Some(u32::from_be_bytes(b))
        };
        let cursor = Cursor { from: word(1)?, to: word(5)?, offset: word(9)? };
        if cursor.from > cursor.to || tag != cursor.tag(item_id, seed) {
            return None;
        }
        Some(cursor)
    }
}

/// One page of `/transactions/sync`.
#[derive(Debug, Clone)]
pub struct SyncPage {
    pub added: Vec<Arc<Txn>>,
    pub modified: Vec<Arc<Txn>>,
    pub removed: Vec<(String, String)>,
    pub next_cursor: Cursor,
    pub has_more: bool,
}

/// Why a sync page cannot be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    #[error("the log changed since the pagination cursor was issued")]
    MutationDuringPagination,
    #[error("the cursor points beyond the log")]
    InvalidCursor,
}

/// Computes the page after `cursor` (`None` = from the beginning).
pub fn sync_page(
    log: &TxLog,
    cursor: Option<Cursor>,
    count: usize,
    account_filter: Option<&str>,
) -> Result<SyncPage, SyncError> {
    let len = u32::try_from(log.len()).map_err(|_| SyncError::InvalidCursor)?;
    let (from, to, offset) = match cursor {
        None => (0, len, 0),
        Some(c) if c.is_mid_pagination() => {
            if c.to != len {
                return Err(SyncError::MutationDuringPagination);
            }
            (c.from, c.to, c.offset)
        }
        Some(c) => {
            if c.to > len {
                return Err(SyncError::InvalidCursor);
            }
            (c.to, len, 0)
        }
    };
    let mut updates = log.net_updates(from as usize, to as usize);
    if let Some(account) = account_filter {
        updates.retain(|u| u.account_id() == account);
    }
    let start = (offset as usize).min(updates.len());
    let end = start.saturating_add(count).min(updates.len());
    let has_more = end < updates.len();
    let mut page = SyncPage {
        added: Vec::new(),
        modified: Vec::new(),
        removed: Vec::new(),
        next_cursor: if has_more {
            Cursor { from, to, offset: u32::try_from(end).map_err(|_| SyncError::InvalidCursor)? }
        } else {
            Cursor::at(to)
        },
        has_more,
    };
    for update in updates.drain(start..end) {
        match update {
            Update::Added(t) => page.added.push(t),
            Update::Modified(t) => page.modified.push(t),
            Update::Removed { transaction_id, account_id } => page.removed.push((transaction_id, account_id)),
        }
    }
    Ok(page)
}

// ---- the seeded generator --------------------------------------------------------------------

struct Merchant {
    name: &'static str,
    merchant_name: Option<&'static str>,
    min_cents: i64,
    max_cents: i64,
    channel: &'static str,
    pfc: (&'static str, &'static str),
    category: &'static [&'static str],
    category_id: &'static str,
    website: Option<&'static str>,
}

#[allow(clippy::too_many_arguments)]
const fn m(
    name: &'static str,
    merchant_name: Option<&'static str>,
    min_cents: i64,
    max_cents: i64,
    channel: &'static str,
    pfc: (&'static str, &'static str),
    category: &'static [&'static str],
    category_id: &'static str,
    website: Option<&'static str>,
) -> Merchant {
    Merchant { name, merchant_name, min_cents, max_cents, channel, pfc, category, category_id, website }
}

const FOOD: &str = "FOOD_AND_DRINK";
const GM: &str = "GENERAL_MERCHANDISE";
const TRANSPORT: &str = "TRANSPORTATION";

/// Everyday spending, drawn at random.
const SPENDING: &[Merchant] = &[
    m(
        "Starbucks",
        Some("Starbucks"),
        350,
        900,
        "in store",
        (FOOD, "FOOD_AND_DRINK_COFFEE"),
        &["Food and Drink", "Restaurants", "Coffee Shop"],
        "13005043",
        Some("starbucks.com"),
    ),
    m(
        "McDonald's",
        Some("McDonald's"),
        500,
        1500,
        "in store",
        (FOOD, "FOOD_AND_DRINK_FAST_FOOD"),
        &["Food and Drink", "Restaurants", "Fast Food"],
        "13005032",
        Some("mcdonalds.com"),
    ),
    m(
        "Chipotle Mexican Grill",
        Some("Chipotle Mexican Grill"),
        900,
        1900,
        "in store",
        (FOOD, "FOOD_AND_DRINK_RESTAURANT"),
        &["Food and Drink", "Restaurants"],
        "13005000",
        Some("chipotle.com"),
    ),
    m(
        "Sweetgreen",
        Some("Sweetgreen"),
        1100,
        1900,
        "in store",
        (FOOD, "FOOD_AND_DRINK_RESTAURANT"),
        &["Food and Drink", "Restaurants"],
        "13005000",
        Some("sweetgreen.com"),
    ),
    m(
        "Whole Foods Market",
        Some("Whole Foods Market"),
        1800,
        14500,
        "in store",
        (FOOD, "FOOD_AND_DRINK_GROCERIES"),
        &["Shops", "Food and Beverage Store", "Supermarkets and Groceries"],
        "19047000",
        Some("wholefoodsmarket.com"),
    ),
    m(
        "Trader Joe's",
        Some("Trader Joe's"),
        1500,
        9500,
        "in store",
        (FOOD, "FOOD_AND_DRINK_GROCERIES"),
        &["Shops", "Supermarkets and Groceries"],
        "19047000",
        Some("traderjoes.com"),
    ),
    m(
        "Safeway",
        Some("Safeway"),
        1200,
        11000,
        "in store",
        (FOOD, "FOOD_AND_DRINK_GROCERIES"),
        &["Shops", "Supermarkets and Groceries"],
        "19047000",
        Some("safeway.com"),
    ),
    m(
        "AMAZON.COM*2K4TY1 AMZN.COM/BILL WA",
        Some("Amazon"),
        899,
        12999,
        "online",
        (GM, "GENERAL_MERCHANDISE_ONLINE_MARKETPLACES"),
        &["Shops", "Digital Purchase"],
        "19013000",
        Some("amazon.com"),
    ),
    m(
        "Target",
        Some("Target"),
        1200,
        9800,
        "in store",
        (GM, "GENERAL_MERCHANDISE_SUPERSTORES"),
        &["Shops", "Department Stores"],
        "19018000",
        Some("target.com"),
    ),
    m(
        "Walgreens",
        Some("Walgreens"),
        450,
        3800,
        "in store",
        ("MEDICAL", "MEDICAL_PHARMACIES_AND_SUPPLEMENTS"),
        &["Shops", "Pharmacies"],
        "19043000",
        Some("walgreens.com"),
    ),
    m(
        "CVS Pharmacy",
        Some("CVS"),
        500,
        4200,
        "in store",
        ("MEDICAL", "MEDICAL_PHARMACIES_AND_SUPPLEMENTS"),
        &["Shops", "Pharmacies"],
        "19043000",
        Some("cvs.com"),
    ),
    m(
        "Uber 063015 SF**POOL**",
        Some("Uber"),
        650,
        4800,
        "online",
        (TRANSPORT, "TRANSPORTATION_TAXIS_AND_RIDE_SHARES"),
        &["Travel", "Taxi"],
        "22016000",
        Some("uber.com"),
    ),
    m(
        "Lyft Ride",
        Some("Lyft"),
        700,
        4200,
        "online",
        (TRANSPORT, "TRANSPORTATION_TAXIS_AND_RIDE_SHARES"),
        &["Travel", "Taxi"],
        "22016000",
        Some("lyft.com"),
    ),
    m(
        "Shell Oil 57444",
        Some("Shell"),
        2500,
        6800,
        "in store",
        (TRANSPORT, "TRANSPORTATION_GAS"),
        &["Travel", "Gas Stations"],
        "22009000",
        Some("shell.com"),
    ),
    m(
        "Chevron",
        Some("Chevron"),
        2400,
        7000,
        "in store",
        (TRANSPORT, "TRANSPORTATION_GAS"),
        &["Travel", "Gas Stations"],
        "22009000",
        Some("chevron.com"),
    ),
    m(
        "DoorDash",
        Some("DoorDash"),
        1800,
        5500,
        "online",
        (FOOD, "FOOD_AND_DRINK_RESTAURANT"),
        &["Food and Drink", "Restaurants"],
        "13005000",
        Some("doordash.com"),
    ),
    m(
        "Apple.com/bill",
        Some("Apple"),
        99,
        2999,
        "online",
        (GM, "GENERAL_MERCHANDISE_ELECTRONICS"),
        &["Shops", "Computers and Electronics"],
        "19013000",
        Some("apple.com"),
    ),
    m(
        "Home Depot",
        Some("The Home Depot"),
        1500,
        24000,
        "in store",
        ("HOME_IMPROVEMENT", "HOME_IMPROVEMENT_HARDWARE"),
        &["Shops", "Hardware Store"],
        "19031000",
        Some("homedepot.com"),
    ),
    m(
        "AMC Theatres",
        Some("AMC Theatres"),
        1200,
        4500,
        "in store",
        ("ENTERTAINMENT", "ENTERTAINMENT_TV_AND_MOVIES"),
        &["Recreation", "Arts and Entertainment", "Movie Theatres"],
        "17001000",
        Some("amctheatres.com"),
    ),
    m(
        "United Airlines",
        Some("United Airlines"),
        12000,
        65000,
        "online",
        ("TRAVEL", "TRAVEL_FLIGHTS"),
        &["Travel", "Airlines and Aviation Services"],
        "22001000",
        Some("united.com"),
    ),
    m(
        "Airbnb",
        Some("Airbnb"),
        15000,
        90000,
        "online",
        ("TRAVEL", "TRAVEL_LODGING"),
        &["Travel", "Lodging"],
        "22012000",
        Some("airbnb.com"),
    ),
];

/// Recurring charges: (merchant, day of month).
const MONTHLY: &[(Merchant, u8)] = &[
    (
        m(
            "Netflix.com",
            Some("Netflix"),
            1549,
            1549,
            "online",
            ("ENTERTAINMENT", "ENTERTAINMENT_TV_AND_MOVIES"),
            &["Service", "Subscription"],
            "18061000",
            Some("netflix.com"),
        ),
        3,
    ),
    (
        m(
            "Spotify USA",
            Some("Spotify"),
            1099,
            1099,
            "online",
            ("ENTERTAINMENT", "ENTERTAINMENT_MUSIC_AND_AUDIO"),
            &["Service", "Subscription"],
            "18061000",
            Some("spotify.com"),
        ),
        12,
    ),
    (
        m(
            "COMCAST CABLE COMM",
            Some("Comcast"),
            8999,
            8999,
            "online",
            ("RENT_AND_UTILITIES", "RENT_AND_UTILITIES_INTERNET_AND_CABLE"),
            &["Service", "Cable"],
            "18009000",
            Some("xfinity.com"),
        ),
        18,
    ),
    (
        m(
            "PGANDE WEB ONLINE",
            Some("PG&E"),
            7800,
            16500,
            "online",
            ("RENT_AND_UTILITIES", "RENT_AND_UTILITIES_GAS_AND_ELECTRICITY"),
            &["Service", "Utilities", "Gas"],
            "18068000",
            Some("pge.com"),
        ),
        21,
    ),
];

const CITIES: &[(&str, &str, &str, f64, f64)] = &[
    ("San Francisco", "CA", "94105", 37.7897, -122.3942),
    ("New York", "NY", "10001", 40.7506, -73.9972),
    ("Austin", "TX", "78701", 30.2711, -97.7437),
    ("Chicago", "IL", "60601", 41.8853, -87.6229),
    ("Seattle", "WA", "98101", 47.6101, -122.3344),
];

const STREETS: &[&str] = &["Market St", "Mission St", "Broadway", "Main St", "Congress Ave", "Pine St", "Lake St"];

struct Gen<'a> {
    rng: StdRng,
    item_id: &'a str,
    seed: u64,
    counter: u64,
    city: usize,
}

impl Gen<'_> {
    fn id(&mut self) -> String {
        self.counter += 1;
        crate::ids::derived_id(&[
            b"transaction",
            self.item_id.as_bytes(),
            &self.seed.to_le_bytes(),
            &self.counter.to_le_bytes(),
        ])
    }

    fn location(&mut self, channel: &str) -> Location {
        if channel != "in store" {
            return Location::default();
        }
        let (city, region, zip, lat, lon) = CITIES[self.city];
        let jitter_lat = self.rng.gen_range(-0.02..0.02);
        let jitter_lon = self.rng.gen_range(-0.02..0.02);
        let street = STREETS[self.rng.gen_range(0..STREETS.len())];
        Location {
            address: Some(format!("{} {street}", self.rng.gen_range(1..2400))),
            city: Some(city.to_owned()),
            region: Some(region.to_owned()),
            postal_code: Some(zip.to_owned()),
            country: Some("US".to_owned()),
            lat: Some(round4(lat + jitter_lat)),
            lon: Some(round4(lon + jitter_lon)),
            store_number: Some(format!("{}", self.rng.gen_range(100..9999))),
        }
    }

    fn merchant_txn(&mut self, m: &Merchant, account: &Account, date: Date) -> Txn {
        let amount =
            if m.min_cents == m.max_cents { m.min_cents } else { self.rng.gen_range(m.min_cents..=m.max_cents) };
        let location = self.location(m.channel);
        Txn {
            transaction_id: self.id(),
            account_id: account.account_id.clone(),
            amount_cents: amount,
            iso_currency_code: "USD".to_owned(),
            date: ymd(date),
            authorized_date: Some(ymd(date.previous_day().unwrap_or(date))),
            name: m.name.to_owned(),
            merchant_name: m.merchant_name.map(str::to_owned),
            pending: false,
            pending_transaction_id: None,
            payment_channel: m.channel.to_owned(),
            transaction_type: if m.channel == "in store" { "place" } else { "digital" }.to_owned(),
            category: m.category.iter().map(|c| (*c).to_owned()).collect(),
            category_id: m.category_id.to_owned(),
            pfc_primary: m.pfc.0.to_owned(),
            pfc_detailed: m.pfc.1.to_owned(),
            location,
            payment_meta: PaymentMeta::default(),
            website: m.website.map(str::to_owned),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn special(
        &mut self,
        account: &Account,
        date: Date,
        amount_cents: i64,
        name: &str,
        merchant_name: Option<&str>,
        pfc: (&str, &str),
        category: &[&str],
        category_id: &str,
        payment_meta: PaymentMeta,
    ) -> Txn {
        Txn {
            transaction_id: self.id(),
            account_id: account.account_id.clone(),
            amount_cents,
            iso_currency_code: "USD".to_owned(),
            date: ymd(date),
            authorized_date: Some(ymd(date)),
            name: name.to_owned(),
            merchant_name: merchant_name.map(str::to_owned),
            pending: false,
            pending_transaction_id: None,
            payment_channel: "other".to_owned(),
            transaction_type: "special".to_owned(),
            category: category.iter().map(|c| (*c).to_owned()).collect(),
            category_id: category_id.to_owned(),
            pfc_primary: pfc.0.to_owned(),
            pfc_detailed: pfc.1.to_owned(),
            location: Location::default(),
            payment_meta,
            website: None,
        }
    }
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

fn seeded_rng(item_id: &str, seed: u64, salt: &[u8]) -> StdRng {
    let mut h = Sha256::new();
    h.update(b"plaid-emulator transactions");
    h.update(seed.to_le_bytes());
    h.update(item_id.as_bytes());
    h.update(salt);
    StdRng::from_seed(h.finalize().into())
}

/// Builds an Item's initial history: about 90 days before `today` of spending on the checking and
/// credit card accounts, payroll, rent, subscriptions, card payments and savings transfers. The
/// last two days are pending; some older card purchases went pending first and then posted (the
/// log holds the pending version, its removal and the posted one with `pending_transaction_id`).
/// Deterministic in (`item_id`, `seed`, `today`).
pub fn initial_history(item_id: &str, seed: u64, today: Date, accounts: &[Account]) -> TxLog {
    let checking = accounts.iter().find(|a| a.subtype == "checking");
    let savings = accounts.iter().find(|a| a.subtype == "savings");
    let card = accounts.iter().find(|a| a.account_type == "credit");
    let mut g = Gen { rng: seeded_rng(item_id, seed, b"history"), item_id, seed, counter: 0, city: 0 };
    g.city = g.rng.gen_range(0..CITIES.len());

    // (sort date, transaction, went pending first)
    let mut txns: Vec<(Date, Txn, bool)> = Vec::new();
    for days_ago in (0..90).rev() {
        let date = today - Duration::days(days_ago);
        let recent = days_ago < 2;
        for (account, weight) in [(checking, 1.3f64), (card, 1.6f64)] {
            let Some(account) = account else { continue };
            let n = poisson(&mut g.rng, weight);
            for _ in 0..n {
                let merchant = &SPENDING[weighted_index(&mut g.rng)];
                let mut t = g.merchant_txn(merchant, account, date);
                if recent {
                    t.pending = true;
                    t.authorized_date = Some(ymd(date));
                }
                let pending_first = !recent && days_ago < 10 && g.rng.gen_bool(0.5);
                txns.push((date, t, pending_first));
            }
        }
        if let Some(account) = checking {
            if days_ago % 14 == 4 {
                let meta = PaymentMeta {
                    payer: Some("Platypus Labs Inc".to_owned()),
                    payment_method: Some("ACH".to_owned()),
                    ppd_id: Some(format!("{}", g.rng.gen_range(1_000_000_000u64..9_999_999_999))),
                    reference_number: Some(format!("{}", g.rng.gen_range(100_000u32..999_999))),
                    ..PaymentMeta::default()
                };
                let pay = g.rng.gen_range(245_000..252_000);
                let t = g.special(
                    account,
                    date,
                    -pay,
                    "PLATYPUS LABS INC PAYROLL",
                    Some("Platypus Labs"),
                    ("INCOME", "INCOME_WAGES"),
                    &["Transfer", "Payroll"],
                    "21009000",
                    meta,
                );
                txns.push((date, t, false));
            }
            if date.day() == 1 {
                let meta = PaymentMeta {
                    payee: Some("Gingham Property Management".to_owned()),
                    payment_method: Some("ACH".to_owned()),
                    reference_number: Some(format!("{}", g.rng.gen_range(100_000u32..999_999))),
                    ..PaymentMeta::default()
                };
                let t = g.special(
                    account,
                    date,
                    210_000,
                    "GINGHAM PROPERTY MGMT RENT",
                    Some("Gingham Property Management"),
                    ("RENT_AND_UTILITIES", "RENT_AND_UTILITIES_RENT"),
                    &["Payment", "Rent"],
                    "16002000",
                    meta,
                );
                txns.push((date, t, false));
            }
            for (merchant, dom) in MONTHLY {
                if date.day() == *dom {
                    let t = g.merchant_txn(merchant, account, date);
                    txns.push((date, t, false));
                }
            }
            if date.day() == 25 {
                if let Some(card_account) = card {
                    let amount = g.rng.gen_range(40_000..120_000);
                    let t = g.special(
                        account,
                        date,
                        amount,
                        "PLAID CREDIT CARD PAYMENT",
                        None,
                        ("LOAN_PAYMENTS", "LOAN_PAYMENTS_CREDIT_CARD_PAYMENT"),
                        &["Payment", "Credit Card"],
                        "16001000",
                        PaymentMeta::default(),
                    );
                    txns.push((date, t, false));
                    let t = g.special(
                        card_account,
                        date,
                        -amount,
                        "PAYMENT THANK YOU",
                        None,
                        ("LOAN_PAYMENTS", "LOAN_PAYMENTS_CREDIT_CARD_PAYMENT"),
                        &["Payment", "Credit Card"],
                        "16001000",
                        PaymentMeta::default(),
                    );
                    txns.push((date, t, false));
                }
                if let Some(savings_account) = savings {
                    let amount = 50_000;
                    let t = g.special(
                        account,
                        date,
                        amount,
                        "ONLINE TRANSFER TO SAVINGS",
                        None,
                        ("TRANSFER_OUT", "TRANSFER_OUT_SAVINGS"),
                        &["Transfer", "Internal Account Transfer"],
                        "21001000",
                        PaymentMeta::default(),
                    );
                    txns.push((date, t, false));
                    let t = g.special(
                        savings_account,
                        date,
                        -amount,
                        "ONLINE TRANSFER FROM CHECKING",
                        None,
                        ("TRANSFER_IN", "TRANSFER_IN_ACCOUNT_TRANSFER"),
                        &["Transfer", "Internal Account Transfer"],
                        "21001000",
                        PaymentMeta::default(),
                    );
                    txns.push((date, t, false));
                }
            }
        }
        if let Some(account) = savings
            && date.day() == 28
        {
            let interest = g.rng.gen_range(5..40);
            let t = g.special(
                account,
                date,
                -interest,
                "INTEREST PAYMENT",
                None,
                ("INCOME", "INCOME_INTEREST_EARNED"),
                &["Interest", "Interest Earned"],
                "15002000",
                PaymentMeta::default(),
            );
            txns.push((date, t, false));
        }
    }

    // The log: everything in date order; a purchase that went pending first appears as its
    // pending version, and two days later as removal of that plus the posted version.
    let mut events: Vec<(Date, u8, Change)> = Vec::with_capacity(txns.len() + 16);
    for (date, t, pending_first) in txns {
        if pending_first {
            let mut pending = t.clone();
            pending.transaction_id = g.id();
            pending.pending = true;
            let posted = Txn { pending_transaction_id: Some(pending.transaction_id.clone()), ..t };
            let post_date = (date + Duration::days(2)).min(today);
            events.push((date, 0, Change::Added(Arc::new(pending.clone()))));
            events.push((
                post_date,
                1,
                Change::Removed {
                    transaction_id: pending.transaction_id.clone(),
                    account_id: pending.account_id.clone(),
                },
            ));
            events.push((post_date, 2, Change::Added(Arc::new(posted))));
        } else {
            events.push((date, 0, Change::Added(Arc::new(t))));
        }
    }
    // Stable sort keeps generation order within a day.
    events.sort_by_key(|(date, phase, _)| (*date, *phase));
    TxLog::from_entries(events.into_iter().map(|(_, _, c)| c).collect())
}

/// `n` new random purchases dated `today` (what a DEFAULT_UPDATE brings), deterministic in the
/// Item, the seed and how long the log already is.
pub fn generate_new(item_id: &str, seed: u64, log_len: usize, today: Date, accounts: &[Account], n: usize) -> Vec<Txn> {
    let eligible: Vec<&Account> =
        accounts.iter().filter(|a| a.subtype == "checking" || a.account_type == "credit").collect();
    let mut g = Gen {
        rng: seeded_rng(item_id, seed, &(log_len as u64).to_le_bytes()),
        item_id,
        seed,
        counter: 1_000_000 + log_len as u64 * 1_000,
        city: 0,
    };
    g.city = g.rng.gen_range(0..CITIES.len());
    let mut out = Vec::with_capacity(n);
    if eligible.is_empty() {
        return out;
    }
    for _ in 0..n {
        let account = eligible[g.rng.gen_range(0..eligible.len())];
        let merchant = &SPENDING[weighted_index(&mut g.rng)];
        let t = g.merchant_txn(merchant, account, today);
        out.push(t);
    }
    out
}

/// A fresh transaction id for a transaction added through the control API.
pub fn control_txn_id(item_id: &str, seed: u64, log_len: usize, n: usize) -> String {
    crate::ids::derived_id(&[
        b"control transaction",
        item_id.as_bytes(),
        &seed.to_le_bytes(),
        &(log_len as u64).to_le_bytes(),
        &(n as u64).to_le_bytes(),
    ])
}

fn weighted_index(rng: &mut StdRng) -> usize {
    // Everyday merchants far more often than flights and lodging (the last two entries).
    if rng.gen_bool(0.03) { SPENDING.len() - 1 - rng.gen_range(0..2) } else { rng.gen_range(0..SPENDING.len() - 2) }
}

fn poisson(rng: &mut StdRng, lambda: f64) -> u32 {
    let l = (-lambda).exp();
    let mut k = 0;
    let mut p = 1.0;
    loop {
        p *= rng.r#gen::<f64>();
        if p <= l || k > 20 {
            return k;
        }
        k += 1;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::sandbox::USER_GOOD_ACCOUNTS;
    use time::macros::date;

    fn accounts() -> Vec<Account> {
        USER_GOOD_ACCOUNTS.iter().map(|t| t.instantiate("item", 7)).collect()
    }

    #[test]
    fn history_is_deterministic_and_realistic() {
        let a = initial_history("item", 7, date!(2026 - 03 - 15), &accounts());
        let b = initial_history("item", 7, date!(2026 - 03 - 15), &accounts());
        assert_eq!(a.entries(), b.entries());
        let current = a.current();
        assert!((200..600).contains(&current.len()), "{}", current.len());
        assert!(current.iter().any(|t| t.pending));
        let posted_from_pending: Vec<_> = current.iter().filter(|t| t.pending_transaction_id.is_some()).collect();
        assert!(!posted_from_pending.is_empty());
        for t in posted_from_pending {
            let pid = t.pending_transaction_id.as_deref().unwrap();
            assert!(a.get(pid).is_none(), "pending version is removed");
            assert!(a.ever_had(pid));
        }
        assert!(current.iter().all(|t| t.date.as_str() <= "2026-03-15"));
        assert!(current.iter().all(|t| t.date.as_str() >= "2025-12-15"));
        let c = initial_history("other", 7, date!(2026 - 03 - 15), &accounts());
        assert_ne!(a.entries(), c.entries());
    }

    #[test]
    fn full_sync_nets_out_pending_swaps() {
        let log = initial_history("item", 7, date!(2026 - 03 - 15), &accounts());
        let page = sync_page(&log, None, usize::MAX, None).unwrap();
        assert_eq!(page.added.len(), log.current().len());
        assert!(page.modified.is_empty() && page.removed.is_empty());
        assert!(!page.has_more);
        assert_eq!(page.next_cursor, Cursor::at(log.len() as u32));
    }

    #[test]
    fn paging_and_net_changes() {
        let mut log = initial_history("item", 7, date!(2026 - 03 - 15), &accounts());
        let total = log.current().len();
        let mut cursor = None;
        let mut seen = 0;
        loop {
            let page = sync_page(&log, cursor, 100, None).unwrap();
            seen += page.added.len();
            cursor = Some(page.next_cursor);
            if !page.has_more {
                break;
            }
        }
        assert_eq!(seen, total);
        let settled = cursor.unwrap();

        // add one, modify one, remove one, add-then-remove one
        let existing = log.current();
        let mut changed = (*existing[0]).clone();
        changed.amount_cents += 1;
        log.push(Change::Modified(Arc::new(changed)));
        log.push(Change::Removed {
            transaction_id: existing[1].transaction_id.clone(),
            account_id: existing[1].account_id.clone(),
        });
        let mut fresh = (*existing[2]).clone();
        fresh.transaction_id = "fresh".into();
        log.push(Change::Added(Arc::new(fresh)));
        let mut ephemeral = (*existing[2]).clone();
        ephemeral.transaction_id = "ephemeral".into();
        log.push(Change::Added(Arc::new(ephemeral)));
        log.push(Change::Removed { transaction_id: "ephemeral".into(), account_id: existing[2].account_id.clone() });
        let page = sync_page(&log, Some(settled), 100, None).unwrap();
        assert_eq!(page.added.len(), 1);
        assert_eq!(page.added[0].transaction_id, "fresh");
        assert_eq!(page.modified.len(), 1);
        assert_eq!(page.modified[0].amount_cents, existing[0].amount_cents + 1);
        assert_eq!(page.removed, vec![(existing[1].transaction_id.clone(), existing[1].account_id.clone())]);
    }

    #[test]
    fn mutation_during_pagination_is_detected() {
        let mut log = initial_history("item", 7, date!(2026 - 03 - 15), &accounts());
        let page = sync_page(&log, None, 10, None).unwrap();
        assert!(page.has_more);
        let t = log.current()[0].clone();
        log.push(Change::Removed { transaction_id: t.transaction_id.clone(), account_id: t.account_id.clone() });
        assert_eq!(sync_page(&log, Some(page.next_cursor), 10, None).unwrap_err(), SyncError::MutationDuringPagination);
    }

    #[test]
    fn cursors_are_opaque_and_bound_to_the_item() {
        let c = Cursor { from: 3, to: 40, offset: 10 };
        let s = c.encode("item", 1);
        assert!(s.parse::<u64>().is_err());
        assert_eq!(Cursor::decode(&s, "item", 1), Some(c));
        assert_eq!(Cursor::decode(&s, "other", 1), None);
        assert_eq!(Cursor::decode("garbage", "item", 1), None);
        assert_eq!(Cursor::decode("", "item", 1), None);
    }

    #[test]
    fn wire_transaction_has_required_keys() {
        let log = initial_history("item", 7, date!(2026 - 03 - 15), &accounts());
        let t = log.current()[0].clone();
        let v = serde_json::to_value(WireTxn { txn: &t, options: WireOptions::default() }).unwrap();
        for key in [
            "account_id",
            "amount",
            "iso_currency_code",
            "unofficial_currency_code",
            "date",
            "pending",
            "transaction_id",
            "pending_transaction_id",
            "account_owner",
            "payment_channel",
            "name",
            "merchant_name",
            "payment_meta",
            "location",
            "authorized_date",
            "authorized_datetime",
            "datetime",
            "transaction_code",
        ] {
            assert!(v.get(key).is_some(), "{key}");
        }
        assert_eq!(v["location"].as_object().unwrap().len(), 8);
        assert_eq!(v["payment_meta"].as_object().unwrap().len(), 8);
        assert!(v.get("personal_finance_category").is_none());
    }

    /// A client that syncs now and then (restarting a loop on mutation errors, from the cursor the
    /// loop started with) always ends up with exactly the log's current transactions.
    mod properties {
        use std::collections::HashMap;

        use proptest::prelude::*;

        use super::super::*;

        #[derive(Debug, Clone)]
        enum Op {
            Add,
            Modify(usize),
            Remove(usize),
            /// Sync pages of this size; mutate after `mutate_after` pages if given.
            Sync {
                count: usize,
                mutate_after: Option<usize>,
            },
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                3 => Just(Op::Add),
                2 => any::<usize>().prop_map(Op::Modify),
                2 => any::<usize>().prop_map(Op::Remove),
                2 => (1usize..8, proptest::option::of(0usize..3))
                    .prop_map(|(count, mutate_after)| Op::Sync { count, mutate_after }),
            ]
        }

        fn txn(id: u64, amount: i64) -> Txn {
            Txn {
                transaction_id: format!("t{id}"),
                account_id: "acc".into(),
                amount_cents: amount,
                iso_currency_code: "USD".into(),
                date: "2026-01-01".into(),
                authorized_date: None,
                name: "x".into(),
                merchant_name: None,
                pending: false,
                pending_transaction_id: None,
                payment_channel: "other".into(),
                transaction_type: "special".into(),
                category: vec![],
                category_id: "0".into(),
                pfc_primary: "OTHER".into(),
                pfc_detailed: "OTHER".into(),
                location: Location::default(),
                payment_meta: PaymentMeta::default(),
                website: None,
            }
        }

        struct World {
            log: TxLog,
            next: u64,
        }

        impl World {
            fn mutate(&mut self, op: &Op) {
                let ids: Vec<String> = {
                    let mut v: Vec<String> = self.log.current().iter().map(|t| t.transaction_id.clone()).collect();
                    v.sort();
                    v
                };
                match op {
                    Op::Add => {
                        self.next += 1;
                        self.log.push(Change::Added(Arc::new(txn(self.next, 100))));
                    }
                    Op::Modify(i) if !ids.is_empty() => {
                        let mut t = (**self.log.get(&ids[i % ids.len()]).unwrap()).clone();
                        t.amount_cents += 1;
                        self.log.push(Change::Modified(Arc::new(t)));
                    }
                    Op::Remove(i) if !ids.is_empty() => {
                        let id = ids[i % ids.len()].clone();
                        self.log.push(Change::Removed { transaction_id: id, account_id: "acc".into() });
                    }
                    _ => {}
                }
            }
        }

        proptest! {
            #[test]
            fn client_view_converges(ops in proptest::collection::vec(op(), 1..60)) {
                let mut world = World { log: TxLog::default(), next: 0 };
                let mut view: HashMap<String, Txn> = HashMap::new();
                let mut cursor: Option<Cursor> = None;
                for op in &ops {
                    let Op::Sync { count, mutate_after } = op else {
                        world.mutate(op);
                        continue;
                    };
                    // One sync loop; a mutation may land mid-loop (then: restart from `cursor`).
                    let mut pending_mutation = *mutate_after;
                    'restart: loop {
                        let mut page_cursor = cursor;
                        let mut staged: Vec<SyncPage> = Vec::new();
                        let mut pages = 0;
                        loop {
                            match sync_page(&world.log, page_cursor, *count, None) {
                                Ok(page) => {
                                    page_cursor = Some(page.next_cursor);
                                    let more = page.has_more;
                                    staged.push(page);
                                    pages += 1;
                                    if !more {
                                        break;
                                    }
                                    if pending_mutation == Some(pages) {
                                        pending_mutation = None;
                                        world.mutate(&Op::Add);
                                    }
                                }
                                Err(SyncError::MutationDuringPagination) => continue 'restart,
                                Err(e) => return Err(TestCaseError::fail(format!("{e}"))),
                            }
                        }
                        for page in staged {
                            for t in page.added.iter().chain(page.modified.iter()) {
                                view.insert(t.transaction_id.clone(), (**t).clone());
                            }
                            for (id, _) in page.removed {
                                view.remove(&id);
                            }
                        }
                        cursor = page_cursor;
                        break;
                    }
                    let current: HashMap<String, Txn> = world
                        .log
                        .current()
                        .iter()
                        .map(|t| (t.transaction_id.clone(), (**t).clone()))
                        .collect();
                    prop_assert_eq!(&view, &current);
                }
            }

            #[test]
            fn cursors_round_trip_and_reject_tampering(from in 0u32..1000, len in 0u32..1000, offset in 0u32..1000, flip in 0usize..21) {
                let c = Cursor { from, to: from + len, offset };
                let s = c.encode("item", 9);
                prop_assert_eq!(Cursor::decode(&s, "item", 9), Some(c));
                let mut bytes = STANDARD.decode(&s).unwrap();
                bytes[flip] ^= 0x01;
                prop_assert_eq!(Cursor::decode(&STANDARD.encode(bytes), "item", 9), None);
            }
        }
    }
}
