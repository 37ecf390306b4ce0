//! Who is calling, what they may read, and what it costs them (rate limits).

use std::sync::Arc;

use chrono::Utc;
use poem::{FromRequest, Request, RequestBody};

mod limits;

pub use limits::{Rate, RateLimits, RateSetting};

use crate::{
    domain::{ApiKey, Link, LinkKey, ShareRecord, Username, Visibility},
    error::ApiError,
    remote_keys::{RemoteKeys, RemoteVerdict},
    storage::{KeyStore, KeyStoreError, StorageError, TeamStore},
};

/// The header a trusted proxy sets to the client's address (`--client-ip-header`), if any.
#[derive(Debug, Clone, Default)]
pub struct ClientIpHeader(pub Option<String>);

/// The client's address, for rate limits: behind a trusted proxy, the address that proxy
/// appended to the configured [`ClientIpHeader`] (the rightmost entry; the ones before it are
/// whatever the client sent), else the TCP peer.
pub struct ClientAddr(pub String);

impl ClientAddr {
    /// The client's address of `req`, read through `header` when a proxy sets one.
    pub fn of(req: &Request, header: Option<&str>) -> Self {
        let forwarded = header
            .and_then(|header| req.headers().get_all(header).iter().next_back())
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.rsplit(',').next())
            .map(|last| last.trim().to_owned())
            .filter(|last| !last.is_empty());
        let peer =
            || req.remote_addr().as_socket_addr().map(|a| a.ip().to_string()).unwrap_or_default();
        Self(forwarded.unwrap_or_else(peer))
    }
}

impl<'a> FromRequest<'a> for ClientAddr {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        let header = req.data::<ClientIpHeader>().and_then(|header| header.0.as_deref());
        Ok(Self::of(req, header))
    }
}

/// Behind a proxy every connection is the proxy's, so the cap on one address's connections
/// (`--max-connections-per-address`) becomes a cap on its requests in flight, by the address
/// the proxy names. Past it: 429.
#[derive(Clone)]
pub struct RequestsPerClient {
    header: String,
    cap: usize,
    open: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
}

impl RequestsPerClient {
    pub fn new(header: String, cap: usize) -> Self {
        Self { header, cap, open: Arc::default() }
    }

    /// Runs `next` for `req` if its client has room.
    pub async fn around<E: poem::Endpoint>(
        &self,
        next: E,
        req: Request,
    ) -> poem::Result<poem::Response> {
        use poem::IntoResponse;
        let client = ClientAddr::of(&req, Some(&self.header)).0;
        {
            let mut open = self.open.lock().expect("not poisoned");
            let count = open.entry(client.clone()).or_default();
            if *count >= self.cap {
                return Ok(ApiError::rate_limited(1).into_response());
            }
            *count += 1;
        }
        let _leave = Leave(self.open.clone(), client);
        Ok(next.call(req).await?.into_response())
    }
}

/// Takes a request out of its client's count when it is done.
struct Leave(Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>, String);

impl Drop for Leave {
    fn drop(&mut self) {
        let mut open = self.0.lock().expect("not poisoned");
        if let Some(count) = open.get_mut(&self.1) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.1);
            }
        }
    }
}

/// Checks keys and charges requests to them.
#[derive(Clone)]
pub struct Access {
    pub keys: KeyStore,
    /// Who is in which team (team shares).
    pub teams: TeamStore,
    /// `--auth-url`: where keys this service did not issue are checked.
    pub remote: Option<RemoteKeys>,
    pub limits: RateLimits,
}

impl Access {
    /// Whose key this is, or the 401/503 to answer. Keys this service does not know are asked
    /// of `--auth-url` when one is set; revoked keys are refused outright.
    pub async fn authenticate(&self, key: &ApiKey) -> Result<Username, ApiError> {
        match self.keys.authenticate(key).await {
            Ok(user) => Ok(user),
            Err(KeyStoreError::Unknown) => match &self.remote {
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

    /// [`Access::authenticate`] where a key is required (writes, listing): refused at once
    /// for an address whose key checks keep failing (`--auth-failure-rate`), so made-up keys
    /// cannot keep storage busy; each 401 counts against the address.
    pub async fn authenticate_from(
        &self,
        key: &ApiKey,
        client: &ClientAddr,
    ) -> Result<Username, ApiError> {
        if let Some(refused) = self.limits.blocked(&client.0) {
            return Err(refused);
        }
        let checked = self.authenticate(key).await;
        self.count_failure(&checked, client);
        checked
    }

    /// Counts a 401 against the client's address.
    pub fn count_failure(&self, checked: &Result<Username, ApiError>, client: &ClientAddr) {
        if checked.as_ref().is_err_and(ApiError::is_key_refused) {
            self.limits.record_failure(&client.0);
        }
    }

    /// A write: the key is checked, then the write is charged to it (a made-up key buys no
    /// allowance of its own).
    pub async fn writer(&self, key: &ApiKey, client: &ClientAddr) -> Result<Username, ApiError> {
        let owner = self.authenticate_from(key, client).await?;
        self.limits.check_write(key.hash().as_str())?;
        Ok(owner)
    }

    /// Charges a read: to a checked key, else to the client's address.
    pub fn charge_read(
        &self,
        checked_key: Option<&ApiKey>,
        client: &ClientAddr,
    ) -> Result<(), ApiError> {
        match checked_key {
            Some(key) => self.limits.check_read(&format!("key:{}", key.hash().as_str())),
            None => self.limits.check_read(&format!("ip:{}", client.0)),
        }
    }

    /// A read: a key that was sent is checked (see [`Access::identify`]), then the read is
    /// charged (see [`Access::charge_read`]).
    pub async fn reader(
        &self,
        key: Option<ApiKey>,
        client: &ClientAddr,
    ) -> Result<Reader, ApiError> {
        // On reads an unknown key is normal (the extension sends the website's key), so it
        // does not count as a failure; an address blocked for failing writes reads as
        // anonymous without its key being looked up.
        let caller = match &key {
            Some(_) if self.limits.blocked(&client.0).is_some() => None,
            Some(key) => identify(self.authenticate(key).await)?,
            None => None,
        };
        self.charge_read(key.as_ref().filter(|_| caller.is_some()), client)?;
        Ok(Reader { caller, link: None })
    }
}

/// Who is reading, from a key check's outcome. The extension sends its key (issued by the
/// Syntx website) on every import, and this service may not know it: a key that is not valid
/// here reads as no key, so public shares stay readable and private ones answer 404 as to
/// anyone else. Only a failure to check (storage or the key service down, too many failed
/// checks) is an error.
pub fn identify(checked: Result<Username, ApiError>) -> Result<Option<Username>, ApiError> {
    match checked {
        Ok(user) => Ok(Some(user)),
        Err(e) if e.is_key_refused() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Who is reading: whose valid key came with the request, and the signed link's token if the
/// request carries one (`?link=`).
#[derive(Debug, Default, Clone)]
pub struct Reader {
    pub caller: Option<Username>,
    pub link: Option<String>,
}

impl Reader {
    pub fn anonymous() -> Self {
        Self::default()
    }

    pub fn with_link(mut self, link: Option<&str>) -> Self {
        self.link = link.map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned);
        self
    }
}

/// What let a reader see a share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granted {
    Public,
    Owner,
    Team,
    /// A signed link: the answer is for its holder, never for a shared cache.
    Link,
}

impl Granted {
    /// Whether the answer depended on who asked (a key or a link): caches must not share it.
    pub fn is_personal(self) -> bool {
        self != Self::Public
    }
}

/// Who may read a share: anyone if it is public, its owner, anyone in its owner's team if it
/// is a team share, anyone holding a signed link to it that holds now; everyone else gets
/// 404, as if it did not exist. An expired share answers 410 to whoever may see it, and is
/// never readable through a link.
pub async fn may_read(
    record: &ShareRecord,
    id: &crate::domain::ShareId,
    reader: &Reader,
    teams: &TeamStore,
    link_key: impl std::future::Future<Output = Result<LinkKey, StorageError>>,
) -> Result<Granted, ApiError> {
    let granted = if record.is_public() {
        Some(Granted::Public)
    } else if record.is_owned_by(reader.caller.as_ref()) {
        Some(Granted::Owner)
    } else if record.visibility == Visibility::Team
        && in_owners_team(record, reader.caller.as_ref(), teams).await?
    {
        Some(Granted::Team)
    } else {
        match &reader.link {
            Some(token) => {
                let key = link_key.await?;
                Link::verify(token, id, &key)
                    .filter(|link| link.holds(Utc::now(), record.link_generation))
                    .map(|_| Granted::Link)
            }
            None => None,
        }
    };
    let Some(granted) = granted else { return Err(ApiError::session_not_found()) };
    if record.is_expired(Utc::now()) {
        return Err(ApiError::session_expired());
    }
    Ok(granted)
}

/// Whether `caller` is in the team of the share's owner.
async fn in_owners_team(
    record: &ShareRecord,
    caller: Option<&Username>,
    teams: &TeamStore,
) -> Result<bool, ApiError> {
    let Some(caller) = caller else { return Ok(false) };
    let Some(theirs) = teams.team_of(caller).await? else { return Ok(false) };
    Ok(teams.team_of(&record.username).await?.as_ref() == Some(&theirs))
}
