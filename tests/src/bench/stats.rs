//! Order statistics of timed samples.

use std::time::Duration;

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

/// Milliseconds with one decimal (two below 10 ms), or `–`.
pub fn ms(d: Option<Duration>) -> String {
    match d {
        None => "–".into(),
        Some(d) => {
            let ms = d.as_secs_f64() * 1000.0;
            if ms < 10.0 { format!("{ms:.2} ms") } else { format!("{ms:.1} ms") }
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
}
