//! Who is calling, what they may read, and what it costs them (rate limits).

use chrono::Utc;
use poem::{FromRequest, Request, RequestBody};

mod limits;

pub use limits::{Rate, RateLimits, RateSetting};

use crate::{
    domain::{ApiKey, ShareId, Username},
    remote_keys::RemoteVerdict,
    storage::{KeyStoreError, OpenedSession, ShareRecord},
};
use crate::{
    error::{ApiError, ErrorStatus},
    state::AppState,
};

/// The client's address, for anonymous rate limits: the first address in the configured
/// `--client-ip-header` (behind a trusted proxy), else the TCP peer.
pub struct ClientAddr(pub String);

impl<'a> FromRequest<'a> for ClientAddr {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        let forwarded = req
            .data::<AppState>()
            .and_then(|state| state.client_ip_header.as_deref())
            .and_then(|header| req.header(header))
            .and_then(|value| value.split(',').next())
            .map(|first| first.trim().to_owned())
            .filter(|first| !first.is_empty());
        let peer =
            || req.remote_addr().as_socket_addr().map(|a| a.ip().to_string()).unwrap_or_default();
        Ok(Self(forwarded.unwrap_or_else(peer)))
    }
}

impl AppState {
    /// Whose key this is, or the 401/503 to answer. Keys this service does not know are asked
    /// of `--auth-url` when one is set; revoked keys are refused outright.
    pub async fn authenticate(&self, key: &ApiKey) -> Result<Username, ApiError> {
        match self.keys.authenticate(key).await {
            Ok(user) => Ok(user),
            Err(KeyStoreError::Unknown) => match &self.remote_keys {
                Some(remote) => match remote.check(key).await {
                    Ok(RemoteVerdict::Valid(user)) => Ok(user),
                    Ok(RemoteVerdict::Invalid) => Err(ApiError::invalid_api_key()),
                    Err(e) => {
                        tracing::warn!(error = %e, "remote key check failed");
                        Err(ApiError::auth_unavailable())
                    }
                },
                None => Err(ApiError::invalid_api_key()),
            },
            Err(KeyStoreError::Revoked { .. }) => Err(ApiError::invalid_api_key()),
            Err(KeyStoreError::Storage(e)) => Err(ApiError::from(e)),
            Err(e) => Err(ApiError::internal(e)),
        }
    }

    /// A write: charged to the key presented, then the key is checked.
    pub async fn writer(&self, key: &ApiKey) -> Result<Username, ApiError> {
        self.limits.check_write(key.hash().as_str())?;
        self.authenticate(key).await
    }

    /// Charges a read: to the key when one is sent, else to the client's address.
    pub fn charge_read(&self, key: Option<&ApiKey>, client: &ClientAddr) -> Result<(), ApiError> {
        match key {
            Some(key) => self.limits.check_read(&format!("key:{}", key.hash().as_str())),
            None => self.limits.check_read(&format!("ip:{}", client.0)),
        }
    }

    /// A read: charged (see [`AppState::charge_read`]), then a key that was sent is checked
    /// (see [`AppState::identify`]).
    pub async fn reader(
        &self,
        key: Option<ApiKey>,
        client: &ClientAddr,
    ) -> Result<Option<Username>, ApiError> {
        self.charge_read(key.as_ref(), client)?;
        match key {
            Some(key) => self.identify(&key).await,
            None => Ok(None),
        }
    }

    /// Who is reading. The extension sends its key (issued by the Syntx website) on every
    /// import, and this service may not know it: a key that is not valid here reads as no
    /// key, so public shares stay readable and private ones answer 404 as to anyone else.
    /// Only a failure to check (storage or the key service down) is an error.
    pub async fn identify(&self, key: &ApiKey) -> Result<Option<Username>, ApiError> {
        match self.authenticate(key).await {
            Ok(user) => Ok(Some(user)),
            Err(e) if e.status == ErrorStatus::Unauthorized => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Opens a share for `caller`. With `owner` (a share code) the record and the document
    /// are fetched at once; with the id alone the record names the owner first.
    /// See [`check_readable`] for who may read what.
    pub async fn read_share(
        &self,
        caller: Option<&Username>,
        id: &ShareId,
        owner: Option<&Username>,
        if_none_match: Option<&str>,
    ) -> Result<(ShareRecord, OpenedSession), ApiError> {
        let (record, opened) = match owner {
            Some(owner) => {
                let (record, opened) = tokio::join!(
                    self.sessions.record(id),
                    self.sessions.open(owner, id, if_none_match)
                );
                let record = record?.0;
                if record.username != owner.as_str() {
                    return Err(ApiError::session_not_found());
                }
                (record, opened)
            }
            None => {
                let record = self.sessions.record(id).await?.0;
                let owner = Username::parse(&record.username)?;
                let opened = self.sessions.open(&owner, id, if_none_match).await;
                (record, opened)
            }
        };
        check_readable(&record, caller)?;
        Ok((record, opened?))
    }
}

/// A private share is only the owner's to read (everyone else: 404, as if it did not exist);
/// an expired one answers 410 to whoever may see it.
pub fn check_readable(record: &ShareRecord, caller: Option<&Username>) -> Result<(), ApiError> {
    if !record.is_public && caller.map(Username::as_str) != Some(record.username.as_str()) {
        return Err(ApiError::session_not_found());
    }
    if record.is_expired(Utc::now()) {
        return Err(ApiError::session_expired());
    }
    Ok(())
}
