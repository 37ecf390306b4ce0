//! Rate limits: writes per API key, reads per key or, for anonymous reads, per client address.
//!
//! The counters live in this replica's memory: with N replicas behind a load balancer a
//! client can make up to N times the configured rate.

use std::{num::NonZeroU32, str::FromStr, sync::Arc, time::Duration};

use governor::{
    DefaultKeyedRateLimiter, Quota,
    clock::{Clock, DefaultClock},
};

use crate::error::ApiError;

/// `N/s`, `N/min` or `N/h`; `off` for no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: NonZeroU32,
    pub per: Duration,
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (count, unit) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?}: expected N/s, N/min or N/h, or off"))?;
        let count: u32 =
            count.trim().parse().map_err(|_| format!("{s:?}: {count:?} is not a count"))?;
        let count = NonZeroU32::new(count).ok_or_else(|| format!("{s:?}: use off instead of 0"))?;
        let per = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            other => return Err(format!("{s:?}: unknown unit {other:?}; use s, min or h")),
        };
        // The limiter refills one request every `per / count`; nanoseconds are its grain.
        if (per / count.get()).is_zero() {
            return Err(format!("{s:?}: more than one request per nanosecond; use off instead"));
        }
        Ok(Self { count, per })
    }
}

/// A rate setting: a [`Rate`] or `off`.
pub fn parse_rate(s: &str) -> Result<Option<Rate>, String> {
    if s.trim().eq_ignore_ascii_case("off") { Ok(None) } else { s.parse().map(Some) }
}

/// A rate flag's value: a [`Rate`], or `None` for `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateSetting(pub Option<Rate>);

impl FromStr for RateSetting {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_rate(s).map(Self)
    }
}

#[derive(Clone, Default)]
pub struct RateLimits {
    writes: Option<Arc<DefaultKeyedRateLimiter<String>>>,
    reads: Option<Arc<DefaultKeyedRateLimiter<String>>>,
    /// Failed key checks per client address; over it, the address is refused until
    /// `blocked` says, before any key of its is looked up again.
    failures: Option<Arc<DefaultKeyedRateLimiter<String>>>,
    blocked: Arc<std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>>,
}

fn limiter(rate: Rate) -> Arc<DefaultKeyedRateLimiter<String>> {
    // `count` at once, refilled evenly over `per`.
    let quota = Quota::with_period(rate.per / rate.count.get())
        .expect("a non-zero period")
        .allow_burst(rate.count);
    Arc::new(DefaultKeyedRateLimiter::keyed(quota))
}

fn check(
    limiter: &Option<Arc<DefaultKeyedRateLimiter<String>>>,
    key: &str,
) -> Result<(), ApiError> {
    let Some(limiter) = limiter else { return Ok(()) };
    limiter.check_key(&key.to_owned()).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        ApiError::rate_limited(wait.as_secs_f64().ceil() as u32)
    })
}

impl RateLimits {
    pub fn new(writes: Option<Rate>, reads: Option<Rate>, failures: Option<Rate>) -> Self {
        Self {
            writes: writes.map(limiter),
            reads: reads.map(limiter),
            failures: failures.map(limiter),
            blocked: Arc::default(),
        }
    }

    /// The 429 for an address whose key checks failed too often, until its allowance is back.
    pub fn blocked(&self, address: &str) -> Option<ApiError> {
        let blocked = self.blocked.lock().expect("not poisoned");
        let wait = blocked.get(address)?.checked_duration_since(std::time::Instant::now())?;
        Some(ApiError::rate_limited(wait.as_secs_f64().ceil() as u32))
    }

    /// Counts a failed key check against `address`; past the allowance it is blocked.
    pub fn record_failure(&self, address: &str) {
        let Some(failures) = &self.failures else { return };
        if let Err(not_until) = failures.check_key(&address.to_owned()) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let until = std::time::Instant::now() + wait;
            self.blocked.lock().expect("not poisoned").insert(address.to_owned(), until);
        }
    }

    /// `key` identifies the writer: the hash of its checked key.
    pub fn check_write(&self, key: &str) -> Result<(), ApiError> {
        check(&self.writes, key)
    }

    /// `key` identifies the reader: `key:<hash>` or `ip:<address>`.
    pub fn check_read(&self, key: &str) -> Result<(), ApiError> {
        check(&self.reads, key)
    }

    /// Forgets clients that are back to a full allowance, so memory stays bounded.
    pub fn forget_idle(&self) {
        for limiter in [&self.writes, &self.reads, &self.failures].into_iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        let now = std::time::Instant::now();
        self.blocked.lock().expect("not poisoned").retain(|_, until| *until > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_whose_period_rounds_to_zero_is_refused() {
        assert!("2000000000/s".parse::<Rate>().unwrap_err().contains("use off"));
        assert!("1000000000/s".parse::<Rate>().is_ok());
    }

    #[test]
    fn rates_parse() {
        assert_eq!(
            parse_rate("60/min"),
            Ok(Some(Rate { count: NonZeroU32::new(60).unwrap(), per: Duration::from_secs(60) }))
        );
        assert_eq!(parse_rate("off"), Ok(None));
        assert!(parse_rate("0/min").is_err());
        assert!(parse_rate("lots").is_err());
        assert!(parse_rate("5/fortnight").is_err());
    }

    #[test]
    fn a_burst_is_allowed_then_refused_per_key() {
        let limits = RateLimits::new(parse_rate("3/h").unwrap(), None, None);
        for _ in 0..3 {
            limits.check_write("a").unwrap();
        }
        let refused = limits.check_write("a").unwrap_err();
        assert_eq!(refused.body.code, crate::error::ErrorCode::RateLimited);
        assert!(refused.retry_after.unwrap() > 60, "{:?}", refused.retry_after);
        limits.check_write("b").unwrap();
        limits.check_read("anything").unwrap();
    }
}
