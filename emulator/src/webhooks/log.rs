//! The delivery log: every webhook fired and every attempt to deliver it.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// One delivery attempt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attempt {
    /// When the attempt was made (emulator clock, RFC 3339).
    pub at: String,
    /// HTTP status of the receiver's answer; `None` when it did not answer in time or at all.
    pub status: Option<u16>,
    /// Why the attempt got no answer (timeout, connection error), if it got none.
    pub error: Option<String>,
    /// How long the attempt took, in milliseconds.
    pub elapsed_ms: u64,
    /// The id of the key the attempt was signed with.
    pub kid: String,
    /// The `Plaid-Verification` header sent.
    pub plaid_verification: String,
}

/// State of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not delivered yet; attempts continue.
    Pending,
    /// A receiver answered 200.
    Delivered,
    /// Every attempt failed.
    Failed,
    /// Signed and logged but not sent: the Item's webhooks are held (control API).
    Held,
}

/// One webhook and every attempt to deliver it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    /// Position in the log (1, 2, ...).
    pub id: u64,
    /// The Item the webhook is about.
    pub item_id: String,
    /// Where it is sent.
    pub url: String,
    /// The body's `webhook_type`.
    pub webhook_type: String,
    /// The body's `webhook_code`.
    pub webhook_code: String,
    /// The exact body bytes sent (UTF-8).
    pub body: String,
    /// When it was fired (emulator clock, RFC 3339).
    pub fired_at: String,
    /// Where delivery stands.
    pub status: DeliveryStatus,
    /// The `Plaid-Verification` header of the latest attempt (for a held delivery: the header it
    /// would have been sent with), so a test can redeliver the webhook byte for byte.
    pub plaid_verification: String,
    /// Every attempt so far, oldest first.
    pub attempts: Vec<Attempt>,
}

/// Most deliveries the log keeps (oldest dropped first).
const LOG_CAPACITY: usize = 10_000;

/// The delivery log.
#[derive(Debug, Default)]
pub struct DeliveryLog {
    next_id: u64,
    entries: VecDeque<Delivery>,
}

impl DeliveryLog {
    /// Adds a delivery (its `id` is assigned here) and returns its id.
    pub fn start(&mut self, delivery: Delivery) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        if self.entries.len() >= LOG_CAPACITY {
            self.entries.pop_front();
        }
        self.entries.push_back(Delivery { id, ..delivery });
        id
    }

    /// A delivery still in the log.
    pub fn get_mut(&mut self, id: u64) -> Option<&mut Delivery> {
        self.entries.iter_mut().rev().find(|d| d.id == id)
    }

    /// Deliveries matching the filters, oldest first.
    pub fn list(&self, item_id: Option<&str>, code: Option<&str>) -> Vec<Delivery> {
        self.entries
            .iter()
            .filter(|d| item_id.is_none_or(|i| d.item_id == i))
            .filter(|d| code.is_none_or(|c| d.webhook_code == c))
            .cloned()
            .collect()
    }

    /// How many deliveries the log holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Forgets every delivery (ids keep counting).
    pub fn clear(&mut self) {
        self.entries.clear();
    }
}
