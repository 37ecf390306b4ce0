//! The two ways clients send an API key, as OpenAPI security schemes.
//!
//! Extraction only finds the key; [`super::AppState::authenticate`] checks it, after the cheap
//! checks and before the body is read.

use poem_openapi::{SecurityScheme, auth};

use crate::domain::ApiKey;

/// Your API key in the `Syntx-Api-Key` header (what the extension sends).
#[derive(SecurityScheme)]
#[oai(rename = "SyntxApiKey", ty = "api_key", key_name = "Syntx-Api-Key", key_in = "header")]
pub struct SyntxApiKey(auth::ApiKey);

/// Your API key as `Authorization: Bearer <key>` (what older extension versions send on import).
#[derive(SecurityScheme)]
#[oai(rename = "BearerKey", ty = "bearer")]
pub struct BearerKey(auth::Bearer);

/// The key a request carries, read as the API's security schemes read it: for the routes
/// outside the OpenAPI document (a share page asked for JSON).
pub fn key_in(req: &poem::Request) -> Option<ApiKey> {
    if let Some(key) = req.header("Syntx-Api-Key") {
        return Some(ApiKey::presented(key));
    }
    let authorization = req.header(poem::http::header::AUTHORIZATION)?;
    let (scheme, token) = authorization.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| ApiKey::presented(token.trim()))
}

/// A key is required.
#[derive(SecurityScheme)]
pub enum RequiredKey {
    SyntxApiKey(SyntxApiKey),
    Bearer(BearerKey),
}

impl RequiredKey {
    pub fn key(&self) -> ApiKey {
        match self {
            Self::SyntxApiKey(k) => ApiKey::presented(&k.0.key),
            Self::Bearer(k) => ApiKey::presented(&k.0.token),
        }
    }
}

/// A key may be sent; if it is, it must be valid.
#[derive(SecurityScheme)]
pub enum OptionalKey {
    SyntxApiKey(SyntxApiKey),
    Bearer(BearerKey),
    #[oai(fallback)]
    Anonymous,
}

impl OptionalKey {
    pub fn key(&self) -> Option<ApiKey> {
        match self {
            Self::SyntxApiKey(k) => Some(ApiKey::presented(&k.0.key)),
            Self::Bearer(k) => Some(ApiKey::presented(&k.0.token)),
            Self::Anonymous => None,
        }
    }
}
