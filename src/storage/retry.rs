//! When a storage request is sent again: a fault of the network or of the store (a reset or
//! cut connection, a lost reply, no answer in time, a 5xx or 429) is retried, up to
//! [`MAX_ATTEMPTS`] in all, after a pause with full jitter, within the request's deadline and
//! while the replica's retry budget allows (AWS SDKs' standard retry mode): a store that keeps
//! failing gets no storm of retries. An answer (not found, a refused condition, access
//! denied) is never retried.
//!
//! Every request may be sent again: GET, HEAD, LIST, DELETE and an unconditional PUT do the
//! same twice; a conditional PUT whose first try landed unseen is refused the second time, and
//! its caller reads what is there before it answers (see `writes`).

use std::{
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use object_store::client::HttpError;

/// Tries of one storage request, the first included.
pub const MAX_ATTEMPTS: u32 = 3;
/// The retry budget: tokens a replica holds at most; a retry takes [`RETRY_COST`] (a timeout,
/// which held a connection for long, [`TIMEOUT_COST`]); a request that succeeds at once puts
/// one back, one that succeeds after retries gives back what its retries took.
const CAPACITY: u32 = 500;
const RETRY_COST: u32 = 5;
const TIMEOUT_COST: u32 = 10;
/// The first pause is up to this long, each next one up to twice the last, at most [`MAX_PAUSE`].
const BASE_PAUSE: Duration = Duration::from_millis(100);
const MAX_PAUSE: Duration = Duration::from_secs(1);

/// A storage request that got no answer in time (`--storage-timeout`).
#[derive(Debug, thiserror::Error)]
#[error("no answer within {0:?} (--storage-timeout)")]
pub struct TimedOut(pub Duration);

/// The request's deadline (`--request-timeout`) passed before this storage request could be
/// sent or answered.
#[derive(Debug, thiserror::Error)]
#[error("the request's deadline passed (--request-timeout)")]
pub struct DeadlinePassed;

/// The replica's retry budget (see the module docs).
#[derive(Debug)]
pub struct RetryBudget(AtomicU32);

impl Default for RetryBudget {
    fn default() -> Self {
        Self(AtomicU32::new(CAPACITY))
    }
}

impl RetryBudget {
    /// Takes what a retry after `error` costs; `false` if the budget cannot pay it.
    pub fn take(&self, error: &object_store::Error) -> Option<u32> {
        let cost = if caused_by::<TimedOut>(error) { TIMEOUT_COST } else { RETRY_COST };
        self.0.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| t.checked_sub(cost)).ok()?;
        Some(cost)
    }

    /// A request was answered after its retries took `taken`.
    pub fn answered(&self, taken: u32) {
        let back = if taken == 0 { 1 } else { taken };
        let _ = self.0.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
            Some(t.saturating_add(back).min(CAPACITY))
        });
    }

    #[cfg(test)]
    pub fn left(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The pause before try `attempt + 1`: random, up to [`BASE_PAUSE`] doubled per try.
pub fn pause(attempt: u32) -> Duration {
    let most = BASE_PAUSE.saturating_mul(1 << attempt.saturating_sub(1).min(8)).min(MAX_PAUSE);
    most.mul_f64(rand::random::<f64>())
}

/// Whether storage answered (the request is settled, whatever the answer says).
pub fn is_answer(error: &object_store::Error) -> bool {
    matches!(
        error,
        object_store::Error::NotFound { .. }
            | object_store::Error::AlreadyExists { .. }
            | object_store::Error::Precondition { .. }
            | object_store::Error::NotModified { .. }
    )
}

/// Whether `error` is a fault that the same request may not meet again (see the module docs).
pub fn is_transient(error: &object_store::Error) -> bool {
    if is_answer(error) || caused_by::<DeadlinePassed>(error) {
        return false;
    }
    match error {
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. }
        | object_store::Error::NotImplemented { .. }
        | object_store::Error::NotSupported { .. } => false,
        _ => {
            caused_by::<TimedOut>(error)
                || caused_by::<HttpError>(error)
                || status_in(error).is_some_and(|s| s >= 500 || s == 429 || s == 408)
        }
    }
}

/// Whether `error`'s chain holds an `E`.
pub fn caused_by<E: std::error::Error + 'static>(error: &object_store::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = cause {
        if error.is::<E>() {
            return true;
        }
        cause = error.source();
    }
    false
}

/// The HTTP status a store answered, as object_store words it ("...status code: 503 ...").
fn status_in(error: &object_store::Error) -> Option<u16> {
    let text = error.to_string();
    let (_, rest) = text.split_once("status code: ")?;
    rest.get(..3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generic(source: impl std::error::Error + Send + Sync + 'static) -> object_store::Error {
        object_store::Error::Generic { store: "S3", source: Box::new(source) }
    }

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Text(&'static str);

    #[test]
    fn faults_are_retried_answers_and_refusals_are_not() {
        assert!(is_transient(&generic(TimedOut(Duration::from_secs(1)))));
        assert!(is_transient(&generic(Text(
            "Server returned non-2xx status code: 503 Service Unavailable: "
        ))));
        assert!(is_transient(&generic(Text(
            "Server returned non-2xx status code: 429 Too Many Requests: "
        ))));
        assert!(!is_transient(&generic(Text(
            "Server returned non-2xx status code: 400 Bad Request: "
        ))));
        assert!(!is_transient(&generic(DeadlinePassed)));
        let not_found =
            object_store::Error::NotFound { path: "x".into(), source: Box::new(Text("")) };
        assert!(!is_transient(&not_found) && is_answer(&not_found));
        let denied =
            object_store::Error::PermissionDenied { path: "x".into(), source: Box::new(Text("")) };
        assert!(!is_transient(&denied));
    }

    #[test]
    fn the_budget_is_spent_by_retries_and_given_back_by_answers() {
        let budget = RetryBudget::default();
        let fault = generic(Text("Server returned non-2xx status code: 503 Service Unavailable: "));
        let mut taken = 0;
        while let Some(cost) = budget.take(&fault) {
            taken += cost;
        }
        assert_eq!((taken, budget.left()), (CAPACITY, 0), "a failing store gets no storm");
        budget.answered(0);
        assert_eq!(budget.left(), 1);
        budget.answered(RETRY_COST);
        assert_eq!(budget.left(), 1 + RETRY_COST);
        assert!(budget.take(&generic(TimedOut(Duration::ZERO))).is_none(), "a timeout costs more");
    }

    #[test]
    fn pauses_grow_and_stay_bounded() {
        for attempt in 1..10 {
            let most = BASE_PAUSE * (1 << (attempt - 1).min(8));
            assert!(pause(attempt) <= most.min(MAX_PAUSE));
        }
    }
}
