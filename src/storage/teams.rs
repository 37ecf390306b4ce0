//! Who is in which team: `members/<username>.json` (`{"team": "acme"}`) says it, and
//! `teams/<team>/<username>` (empty) lets a team's members be listed. An operator changes them
//! with `session-share teams`; a replica remembers what it read for `--metadata-cache-ttl`,
//! like key checks, so a change made elsewhere counts here within it.

use std::sync::Arc;

use futures::TryStreamExt;
use moka::future::Cache;
use object_store::{ObjectStore, ObjectStoreExt, path::Path};
use serde::{Deserialize, Serialize};

use super::{StorageError, layout};
use crate::domain::{Team, Username};

/// One entry per user asked about: a name and a team, about 100 bytes each.
const CACHED: u64 = 100_000;

#[derive(Serialize, Deserialize)]
struct Membership {
    team: Team,
}

#[derive(Clone)]
pub struct TeamStore {
    store: Arc<dyn ObjectStore>,
    cache: Option<Cache<Username, Option<Team>>>,
}

impl TeamStore {
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self { store, cache: None }
    }

    /// Remember memberships for `ttl` (none if zero).
    pub fn with_cache(mut self, ttl: std::time::Duration) -> Self {
        self.cache = (!ttl.is_zero())
            .then(|| Cache::builder().max_capacity(CACHED).time_to_live(ttl).build());
        self
    }

    /// The team `user` is in, if any.
    pub async fn team_of(&self, user: &Username) -> Result<Option<Team>, StorageError> {
        if let Some(cache) = &self.cache {
            if let Some(known) = cache.get(user).await {
                return Ok(known);
            }
        }
        let path = layout::membership(user);
        let team = match self.store.get(&path).await {
            Ok(found) => {
                let bytes =
                    found.bytes().await.map_err(|e| StorageError::from_store("read", &path, e))?;
                let membership: Membership = serde_json::from_slice(&bytes).map_err(|e| {
                    StorageError::Corrupt { path: path.to_string(), reason: e.to_string() }
                })?;
                Some(membership.team)
            }
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => return Err(StorageError::from_store("read", &path, e)),
        };
        if let Some(cache) = &self.cache {
            cache.insert(user.clone(), team.clone()).await;
        }
        Ok(team)
    }

    /// Puts `user` in `team` (out of any other), or in none.
    pub async fn set(&self, user: &Username, team: Option<&Team>) -> Result<(), StorageError> {
        let before = self.team_of(user).await?;
        let path = layout::membership(user);
        match team {
            Some(team) => {
                let membership = serde_json::to_vec(&Membership { team: team.clone() })
                    .expect("a membership serializes");
                self.store
                    .put(&path, membership.into())
                    .await
                    .map_err(|e| StorageError::from_store("write", &path, e))?;
                let entry = layout::team_member(team, user);
                self.store
                    .put(&entry, "".into())
                    .await
                    .map_err(|e| StorageError::from_store("write", &entry, e))?;
            }
            None => delete(self.store.as_ref(), &path).await?,
        }
        if let Some(old) = before.filter(|old| Some(old) != team) {
            delete(self.store.as_ref(), &layout::team_member(&old, user)).await?;
        }
        if let Some(cache) = &self.cache {
            cache.invalidate(user).await;
        }
        Ok(())
    }

    /// The members of `team` (each checked against their own membership, which decides).
    pub async fn members(&self, team: &Team) -> Result<Vec<Username>, StorageError> {
        let folder = layout::team(team);
        let listed: Vec<Username> = self
            .store
            .list(Some(&folder))
            .map_ok(|meta| meta.location.filename().and_then(|name| Username::parse(name).ok()))
            .try_collect::<Vec<_>>()
            .await
            .map_err(|e| StorageError::from_store("list", &folder, e))?
            .into_iter()
            .flatten()
            .collect();
        let mut members = Vec::new();
        for user in listed {
            if self.team_of(&user).await?.as_ref() == Some(team) {
                members.push(user);
            }
        }
        Ok(members)
    }

    /// Every membership, for `teams list`.
    pub async fn all(&self) -> Result<Vec<(Username, Team)>, StorageError> {
        let folder = Path::from(layout::MEMBERS);
        let metas: Vec<_> = self
            .store
            .list(Some(&folder))
            .try_collect()
            .await
            .map_err(|e| StorageError::from_store("list", &folder, e))?;
        let mut all = Vec::new();
        for meta in metas {
            let Some(user) = meta
                .location
                .filename()
                .and_then(|f| f.strip_suffix(".json"))
                .and_then(|name| Username::parse(name).ok())
            else {
                continue;
            };
            if let Some(team) = self.team_of(&user).await? {
                all.push((user, team));
            }
        }
        all.sort_by(|a, b| (&a.1, a.0.as_str()).cmp(&(&b.1, b.0.as_str())));
        Ok(all)
    }
}

async fn delete(store: &dyn ObjectStore, path: &Path) -> Result<(), StorageError> {
    match store.delete(path).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(StorageError::from_store("delete", path, e)),
    }
}

#[cfg(test)]
mod tests {
    use object_store::memory::InMemory;

    use super::*;

    #[tokio::test]
    async fn a_user_is_in_one_team_at_most_and_teams_list_their_members() {
        let teams = TeamStore::new(Arc::new(InMemory::new()));
        let (bob, carol) = (Username::parse("bob").unwrap(), Username::parse("carol").unwrap());
        let (acme, other) = (Team::parse("acme").unwrap(), Team::parse("other").unwrap());
        assert_eq!(teams.team_of(&bob).await.unwrap(), None);
        teams.set(&bob, Some(&acme)).await.unwrap();
        teams.set(&carol, Some(&acme)).await.unwrap();
        assert_eq!(teams.members(&acme).await.unwrap().len(), 2);
        teams.set(&bob, Some(&other)).await.unwrap();
        assert_eq!(teams.team_of(&bob).await.unwrap(), Some(other.clone()));
        assert_eq!(teams.members(&acme).await.unwrap(), std::slice::from_ref(&carol));
        teams.set(&carol, None).await.unwrap();
        assert!(teams.members(&acme).await.unwrap().is_empty());
        assert_eq!(teams.all().await.unwrap(), [(bob, other)]);
    }
}
