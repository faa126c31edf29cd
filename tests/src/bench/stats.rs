//! Order statistics of timed samples.

use std::time::{Duration, Instant};

/// Samples of one measure.
#[derive(Debug, Clone, Default)]
pub struct Samples(Vec<Duration>);

impl Samples {
    pub fn push(&mut self, d: Duration) {
        self.0.push(d);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = Duration> + '_ {
        self.0.iter().copied()
    }

    fn sorted(&self) -> Vec<Duration> {
        let mut v = self.0.clone();
        v.sort();
        v
    }

    /// The `q` quantile (0..=1), nearest rank.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let v = self.sorted();
        if v.is_empty() {
            return None;
        }
        let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
        Some(v[rank - 1])
    }

    pub fn median(&self) -> Option<Duration> {
        let v = self.sorted();
        match v.len() {
            0 => None,
            n if n % 2 == 1 => Some(v[n / 2]),
            n => Some((v[n / 2 - 1] + v[n / 2]) / 2),
        }
    }

    pub fn min(&self) -> Option<Duration> {
        self.0.iter().min().copied()
    }

    pub fn max(&self) -> Option<Duration> {
        self.0.iter().max().copied()
    }
}

/// How much of `from..to` the intervals cover (overlapping intervals counted once, each clipped to the
/// window): the time a request spent waiting on calls to other services, some of them concurrent.
pub fn covered(intervals: &[(Instant, Instant)], from: Instant, to: Instant) -> Duration {
    let mut clipped: Vec<(Instant, Instant)> =
        intervals.iter().map(|&(a, b)| (a.max(from), b.min(to))).filter(|(a, b)| a < b).collect();
    clipped.sort();
    let mut total = Duration::ZERO;
    let mut current: Option<(Instant, Instant)> = None;
    for (a, b) in clipped {
        current = match current {
            Some((ca, cb)) if a <= cb => Some((ca, cb.max(b))),
            Some((ca, cb)) => {
                total += cb - ca;
                Some((a, b))
            }
            None => Some((a, b)),
        };
    }
    if let Some((a, b)) = current {
        total += b - a;
    }
    total
}

/// `a / b` of two durations, or `None` without both.
pub fn ratio(a: Option<Duration>, b: Option<Duration>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if !b.is_zero() => Some(a.as_secs_f64() / b.as_secs_f64()),
        _ => None,
    }
}

/// A ratio as `2.31×`, or `–`.
pub fn times(r: Option<f64>) -> String {
    r.map_or("–".into(), |r| format!("{r:.2}×"))
}

/// Milliseconds with one decimal (two below 10 ms, three below 1 ms), or `–`.
pub fn ms(d: Option<Duration>) -> String {
    match d {
        None => "–".into(),
        Some(d) => {
            let ms = d.as_secs_f64() * 1000.0;
            if ms < 1.0 {
                format!("{ms:.3} ms")
            } else if ms < 10.0 {
                format!("{ms:.2} ms")
            } else {
                format!("{ms:.1} ms")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_statistics() {
        let mut s = Samples::default();
        for ms in [5u64, 1, 4, 2, 3] {
            s.push(Duration::from_millis(ms));
        }
        assert_eq!(s.median(), Some(Duration::from_millis(3)));
        assert_eq!(s.quantile(0.99), Some(Duration::from_millis(5)));
        assert_eq!(s.quantile(0.2), Some(Duration::from_millis(1)));
        assert_eq!(s.min(), Some(Duration::from_millis(1)));
        s.push(Duration::from_millis(6));
        assert_eq!(s.median(), Some(Duration::from_micros(3500)));
    }

    #[test]
    fn covered_counts_overlaps_once_and_clips_to_the_window() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let spans = [(at(1), at(3)), (at(2), at(5)), (at(7), at(8)), (at(9), at(20))];
        assert_eq!(covered(&spans, at(0), at(10)), Duration::from_millis(4 + 1 + 1));
        assert_eq!(covered(&[], at(0), at(10)), Duration::ZERO);
        assert_eq!(covered(&spans, at(4), at(7)), Duration::from_millis(1));
    }
}
