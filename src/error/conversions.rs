//! How the service's other errors become answers: domain, storage, document and request
//! errors map to their codes here, and nowhere else.

use super::{ApiError, ErrorCode, ErrorDetail};
use crate::{
    domain::DomainError,
    storage::StorageError,
    validation::{DocumentError, MAX_VIOLATIONS},
};

impl ApiError {
    /// Credentials found in a session the server refuses to store with them
    /// (`--secret-policy reject`): how many, which kinds and where, in one line the extension
    /// shows as it stands; never a credential itself.
    pub fn secrets_found(findings: &[crate::secrets::Finding]) -> Self {
        // At most a few kinds and places, so the line stays whole; `details` has them all.
        const SHOWN: usize = 3;
        let mut kinds: Vec<&str> = Vec::new();
        for f in findings {
            if !kinds.contains(&f.rule.as_str()) {
                kinds.push(&f.rule);
            }
        }
        let and_more = |mut shown: Vec<String>, total: usize, what: &str| {
            if total > shown.len() {
                let last = format!("{} more {what}", total - shown.len());
                shown.push(last);
            }
            match shown.split_last() {
                Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
                _ => shown.concat(),
            }
        };
        let kinds_shown = kinds.iter().take(SHOWN).map(|k| k.to_string()).collect();
        let places = findings.iter().take(if findings.len() > SHOWN { SHOWN - 1 } else { SHOWN });
        let count = match findings.len() {
            1 => "a credential".to_owned(),
            n => format!("{n} credentials"),
        };
        let mut err = Self::new(
            ErrorCode::SecretsFound,
            format!(
                "the session contains {count} ({}) at {}; remove {} and share again",
                and_more(kinds_shown, kinds.len(), "kinds"),
                and_more(places.map(|f| f.place()).collect(), findings.len(), "places"),
                if findings.len() == 1 { "it" } else { "them" },
            ),
        );
        err.body.details = findings
            .iter()
            .take(MAX_VIOLATIONS)
            .map(|f| ErrorDetail {
                pointer: Some(f.pointer.clone()),
                line: None,
                column: None,
                message: format!("a credential ({})", f.rule),
            })
            .collect();
        err
    }

    /// Turns a poem-openapi extraction failure (content type, missing key, path) into ours.
    pub fn from_request_error(err: poem::Error) -> Self {
        let err = match err.downcast::<ApiError>() {
            Ok(api) => return api,
            Err(err) => err,
        };
        if let Some(e) = err.downcast_ref::<poem_openapi::error::ContentTypeError>() {
            return match e {
                poem_openapi::error::ContentTypeError::NotSupported { content_type } => {
                    Self::unsupported_media_type(Some(content_type))
                }
                poem_openapi::error::ContentTypeError::ExpectContentType => {
                    Self::unsupported_media_type(None)
                }
            };
        }
        if err.is::<poem_openapi::error::AuthorizationError>() {
            return Self::missing_api_key();
        }
        // A path parameter is a domain type (`routes::params`): its error keeps its own code.
        if let Some(e) = err.downcast_ref::<poem_openapi::error::ParsePathError>() {
            // poem-openapi words it `failed to parse "<type>": <the type's own words>`.
            let words = e.reason.split_once("\": ").map_or(e.reason.as_str(), |(_, w)| w);
            if let Some(domain) = DomainError::from_words(words) {
                return domain.into();
            }
            return Self::invalid_request(format!("`{}`: {}", e.name, e.reason));
        }
        if let Some(e) = err.downcast_ref::<poem_openapi::error::ParseParamError>() {
            let mut api =
                Self::new(ErrorCode::InvalidRequest, format!("`{}`: not a valid value", e.name));
            api.body.details.push(ErrorDetail {
                pointer: None,
                line: None,
                column: None,
                message: e.reason.clone(),
            });
            return api;
        }
        Self::invalid_request(err.to_string())
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        let code = match e {
            DomainError::Username(_) => ErrorCode::InvalidUsername,
            DomainError::ShareId(_) => ErrorCode::InvalidId,
            DomainError::Team(_) => ErrorCode::InvalidRequest,
        };
        Self::new(code, e.to_string())
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound { .. } => Self::session_not_found(),
            StorageError::NoSuchRevision { .. } => Self::revision_not_found(),
            StorageError::Expired { .. } => Self::session_expired(),
            StorageError::ChangedMeanwhile { .. } => Self::precondition_failed(),
            StorageError::Contended { .. } => Self::conflict(),
            StorageError::Unavailable { .. } => {
                tracing::warn!(error = %e, "storage unavailable");
                Self::storage_unavailable()
            }
            // Not an outage: a 503 would invite retries that cannot succeed. The log says what
            // an operator must fix.
            StorageError::Refused { .. }
            | StorageError::Corrupt { .. }
            | StorageError::IdsExhausted { .. } => Self::internal(e),
        }
    }
}

impl From<DocumentError> for ApiError {
    fn from(e: DocumentError) -> Self {
        match e {
            DocumentError::InvalidJson { line, column, ref message } => {
                let mut err = Self::new(ErrorCode::InvalidJson, e.to_string());
                err.body.details.push(ErrorDetail {
                    pointer: None,
                    line: Some(line as u64),
                    column: Some(column as u64),
                    message: message.clone(),
                });
                err
            }
            DocumentError::UnsupportedVersion { .. } => {
                Self::new(ErrorCode::UnsupportedVersion, e.to_string())
            }
            DocumentError::Invalid { violations, total } => {
                let message = if total > violations.len() {
                    format!(
                        "the session does not match the SerializedSession schema: {total} \
                         violations, the first {MAX_VIOLATIONS} are listed"
                    )
                } else {
                    let s = if total == 1 { "" } else { "s" };
                    format!(
                        "the session does not match the SerializedSession schema: {total} violation{s}"
                    )
                };
                let mut err = Self::new(ErrorCode::InvalidSession, message);
                err.body.details = violations
                    .into_iter()
                    .map(|v| ErrorDetail {
                        pointer: Some(v.pointer),
                        line: None,
                        column: None,
                        message: v.message,
                    })
                    .collect();
                err
            }
        }
    }
}
