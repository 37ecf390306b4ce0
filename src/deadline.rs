//! The deadline of one request's storage work (`--request-timeout`): every storage request it
//! makes, retries and the settling of a failed write included, ends by then, so a client is
//! answered within it whatever storage does.
//!
//! The clock starts when the request arrives and again when its body has arrived (a client's
//! upload is bounded apart, by `--min-body-rate`). It is task-local: storage calls made
//! outside a request (`gc`, `keys`, the start-up probe, a failed create settled in the
//! background) have none and are bounded per call only.

use std::{sync::Mutex, time::Duration};

use tokio::time::Instant;

tokio::task_local! {
    static DEADLINE: Deadline;
}

/// One request's deadline.
pub struct Deadline {
    budget: Duration,
    at: Mutex<Instant>,
    /// Set by [`until`]: nothing moves it.
    fixed: bool,
}

/// Runs `work` (one request) with a deadline `budget` from now.
pub async fn scope<F: std::future::Future>(budget: Duration, work: F) -> F::Output {
    let deadline = Deadline { budget, at: Mutex::new(Instant::now() + budget), fixed: false };
    DEADLINE.scope(deadline, work).await
}

/// An upload to storage is about to send `extra`'s worth of bytes (its size at
/// `--storage-min-rate`): the deadline moves that much later, unless it is fixed.
pub fn extend(extra: Duration) {
    let _ = DEADLINE.try_with(|d| {
        if !d.fixed {
            *d.at.lock().expect("not poisoned") += extra;
        }
    });
}

/// The request's body has arrived: its storage work gets the whole budget from now.
pub fn restart() {
    let _ = DEADLINE.try_with(|d| *d.at.lock().expect("not poisoned") = Instant::now() + d.budget);
}

/// When the current request's storage work must be done; `None` outside a request.
pub fn at() -> Option<Instant> {
    DEADLINE.try_with(|d| *d.at.lock().expect("not poisoned")).ok()
}

/// How long a storage call may take: `bound`, or less if the request's deadline is nearer.
/// `None` when the deadline has passed.
pub fn bound(bound: Duration) -> Option<Duration> {
    match at() {
        None => Some(bound),
        Some(at) => {
            let left = at.saturating_duration_since(Instant::now());
            (!left.is_zero()).then(|| bound.min(left))
        }
    }
}

/// Whether the current request's deadline has passed (never, outside a request).
pub fn passed() -> bool {
    bound(Duration::MAX).is_none()
}

/// Runs `work` with its own deadline at `until` or the request's, whichever is sooner: a
/// create's write must land by the time its record says.
pub async fn until<F: std::future::Future>(until: Instant, work: F) -> F::Output {
    let at = at().map_or(until, |at| at.min(until));
    let budget = at.saturating_duration_since(Instant::now());
    DEADLINE.scope(Deadline { budget, at: Mutex::new(at), fixed: true }, work).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_deadline_bounds_calls_within_its_scope_only() {
        assert_eq!(bound(Duration::from_secs(10)), Some(Duration::from_secs(10)));
        scope(Duration::from_millis(50), async {
            assert!(bound(Duration::from_secs(10)).unwrap() <= Duration::from_millis(50));
            assert_eq!(bound(Duration::from_millis(5)), Some(Duration::from_millis(5)));
            tokio::time::sleep(Duration::from_millis(60)).await;
            assert_eq!(bound(Duration::from_secs(10)), None);
            restart();
            assert!(bound(Duration::from_secs(10)).is_some());
            let inner = Instant::now() + Duration::from_millis(10);
            until(inner, async {
                assert!(bound(Duration::from_secs(10)).unwrap() <= Duration::from_millis(10));
            })
            .await;
        })
        .await;
    }
}
