//! What a request cost in calls to other services: snapshots of the counters (the Plaid emulator's per-endpoint
//! counts, the [`AwsCounter`] in front of moto, another in front of the OIDC issuer), their differences, and
//! a summary per service over a series of requests.

use super::aws_counter::AwsCounter;
use super::stats::covered;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The services a function calls, in table order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Service {
    Plaid,
    Kms,
    DynamoDb,
    SecretsManager,
    Sqs,
    Jwks,
    Other,
}

impl Service {
    pub const ALL: [Service; 7] = [
        Service::Plaid,
        Service::Kms,
        Service::DynamoDb,
        Service::SecretsManager,
        Service::Sqs,
        Service::Jwks,
        Service::Other,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Service::Plaid => "Plaid",
            Service::Kms => "KMS",
            Service::DynamoDb => "DynamoDB",
            Service::SecretsManager => "Secrets Manager",
            Service::Sqs => "SQS",
            Service::Jwks => "OIDC JWKS",
            Service::Other => "other",
        }
    }

    /// An AWS operation as the counting proxy names it (`DynamoDB_20120810.PutItem`, `sqs.SendMessage`, ...).
    fn of_aws(op: &str) -> (Service, String) {
        let (prefix, name) = op.split_once('.').unwrap_or(("", op));
        let service = match prefix {
            p if p.starts_with("DynamoDB") => Service::DynamoDb,
            "TrentService" => Service::Kms,
            "secretsmanager" => Service::SecretsManager,
            "AmazonSQS" | "sqs" => Service::Sqs,
            _ => Service::Other,
        };
        let name = if service == Service::Other { op } else { name };
        (service, name.to_owned())
    }
}

/// Calls by service and operation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Calls(BTreeMap<(Service, String), u64>);

impl Calls {
    /// The calls made since `before` was taken.
    pub fn since(&self, before: &Calls) -> Calls {
        let mut out = BTreeMap::new();
        for (k, v) in &self.0 {
            let d = v.saturating_sub(before.0.get(k).copied().unwrap_or(0));
            if d > 0 {
                out.insert(k.clone(), d);
            }
        }
        Calls(out)
    }

    pub fn total(&self, service: Service) -> u64 {
        self.0.iter().filter(|((s, _), _)| *s == service).map(|(_, n)| n).sum()
    }

    /// Calls of one operation (`GenerateDataKey`, `/item/public_token/exchange`, ...).
    pub fn op(&self, service: Service, name: &str) -> u64 {
        self.0.get(&(service, name.to_owned())).copied().unwrap_or(0)
    }
}

/// The counters a benchmark reads.
pub struct Counters<'a> {
    pub plaid: &'a plaid_emulator::Control,
    pub aws: &'a AwsCounter,
    pub issuer: &'a AwsCounter,
    /// A proxy in front of the Plaid emulator, timing its calls (the emulator counts them).
    pub plaid_http: &'a AwsCounter,
}

impl Counters<'_> {
    /// How much of `from..to` was spent waiting on calls to AWS, Plaid or the issuer (concurrent calls
    /// counted once), as the caller saw them.
    pub fn dependency_time(&self, from: Instant, to: Instant) -> Duration {
        let spans: Vec<(Instant, Instant)> = [self.aws, self.issuer, self.plaid_http]
            .iter()
            .flat_map(|proxy| proxy.spans_between(from, to))
            .map(|s| (s.start, s.end))
            .collect();
        covered(&spans, from, to)
    }

    pub fn snapshot(&self) -> Calls {
        let mut calls = BTreeMap::new();
        for (endpoint, n) in self.plaid.call_counts().total {
            calls.insert((Service::Plaid, endpoint), n);
        }
        for (op, n) in self.aws.snapshot() {
            let key = Service::of_aws(&op);
            *calls.entry(key).or_default() += n;
        }
        for (op, n) in self.issuer.snapshot() {
            *calls.entry((Service::Jwks, op)).or_default() += n;
        }
        Calls(calls)
    }
}

/// The calls of a series of requests of one kind.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    samples: Vec<Calls>,
}

impl Tally {
    pub fn push(&mut self, calls: Calls) {
        self.samples.push(calls);
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Per-request calls of `service`, the smallest and largest over the series.
    pub fn range(&self, service: Service) -> (u64, u64) {
        let totals = self.samples.iter().map(|c| c.total(service));
        (totals.clone().min().unwrap_or(0), totals.max().unwrap_or(0))
    }

    /// Per-request calls of one operation, the smallest and largest over the series.
    pub fn op_range(&self, service: Service, name: &str) -> (u64, u64) {
        let counts = self.samples.iter().map(|c| c.op(service, name));
        (counts.clone().min().unwrap_or(0), counts.max().unwrap_or(0))
    }

    /// A table cell: calls per request and by operation, e.g. `2: UpdateItem, PutItem` or
    /// `14–15: BatchWriteItem ×12.4, GetItem` when requests differ.
    pub fn cell(&self, service: Service) -> String {
        if self.samples.is_empty() {
            return "–".into();
        }
        let (min, max) = self.range(service);
        if max == 0 {
            return "0".into();
        }
        let n = self.samples.len() as f64;
        let mut ops: BTreeMap<&str, u64> = BTreeMap::new();
        for calls in &self.samples {
            for ((s, op), count) in &calls.0 {
                if *s == service {
                    *ops.entry(op.as_str()).or_default() += count;
                }
            }
        }
        let ops: Vec<String> = ops
            .into_iter()
            .map(|(op, sum)| {
                let per = sum as f64 / n;
                if (per - 1.0).abs() < f64::EPSILON {
                    op.to_owned()
                } else if per.fract() == 0.0 {
                    format!("{op} ×{per}")
                } else {
                    format!("{op} ×{per:.2}")
                }
            })
            .collect();
        let count = if min == max { min.to_string() } else { format!("{min}–{max}") };
        format!("{count}: {}", ops.join(", "))
    }
}
