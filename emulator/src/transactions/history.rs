//! The seeded generator: an Item's initial history (about 90 days of realistic activity) and the
//! new purchases a DEFAULT_UPDATE brings, deterministic in the Item id and the seed.

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};
use time::{Date, Duration};

use super::log::{Change, TxLog};
use super::merchants::{CITIES, MONTHLY, Merchant, SPENDING, STREETS};
use super::txn::{Location, PaymentMeta, Txn};
use crate::clock::ymd;
use crate::sandbox::Account;

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
    use time::macros::date;

    use super::*;
    use crate::sandbox::USER_GOOD_ACCOUNTS;
    use crate::transactions::cursor::Cursor;
    use crate::transactions::sync::sync_page;
    use crate::transactions::txn::{WireOptions, WireTxn};

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
}
