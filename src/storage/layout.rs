//! Where things are kept, below the configured prefix. Every name is built here from parsed
//! domain types, so nothing a client sends can reach a path unchecked.
//!
//! | key | what |
//! |---|---|
//! | `sessions/<username>/<id>.json.gz` | a share: its latest revision, a standard gzip file of the uploaded JSON (record in the gzip header) |
//! | `sessions/<username>/<id>/<n>.json.gz` | earlier revision `n` of that share, the same kind of file |
//! | `owners/<id prefix>/<username>` | empty: leads an id (which starts with its owner's prefix) to its owner's folder |
//! | `keys/<sha256 of key>.json` | who an API key belongs to; never the key |
//! | `config/id-key` | the secret behind task share ids (see `ShareId::for_task`) |
//! | `config/link-key` | the secret signed links are signed with (see `domain::Link`) |
//! | `members/<username>.json` | the team a user is in (`session-share teams`) |
//! | `listings/<username>.json.gz` | a cache of the owner's share records, for listings; safe to delete |
//! | `teams/<team>/<username>` | empty: lists a team's members |
//! | `_probe/<random>` | scratch of the start-up probe |
//! | `_health/ping` | never written: `/api/health` asks for it to see that storage answers |

use object_store::path::Path;

use crate::domain::{KeyHash, ShareId, Team, Username};

pub const SESSIONS: &str = "sessions";
pub const OWNERS: &str = "owners";
pub const KEYS: &str = "keys";
pub const PROBES: &str = "_probe";
pub const ID_KEY: &str = "config/id-key";
pub const LINK_KEY: &str = "config/link-key";
pub const MEMBERS: &str = "members";
pub const LISTINGS: &str = "listings";
pub const TEAMS: &str = "teams";
pub const HEALTH: &str = "_health/ping";
const EXTENSION: &str = ".json.gz";

/// A share's latest revision.
pub fn share(owner: &Username, id: &ShareId) -> Path {
    Path::from(format!("{SESSIONS}/{owner}/{id}{EXTENSION}"))
}

/// An earlier revision of a share.
pub fn revision(owner: &Username, id: &ShareId, revision: u32) -> Path {
    Path::from(format!("{SESSIONS}/{owner}/{id}/{revision}{EXTENSION}"))
}

/// Where a share's earlier revisions are.
pub fn revisions(owner: &Username, id: &ShareId) -> Path {
    Path::from(format!("{SESSIONS}/{owner}/{id}"))
}

/// An owner's folder: their shares and, in one folder per share, earlier revisions.
pub fn owner_folder(owner: &Username) -> Path {
    Path::from(format!("{SESSIONS}/{owner}"))
}

/// The owner index entry that leads ids with `owner`'s prefix to their folder.
pub fn owner_entry(owner: &Username) -> Path {
    Path::from(format!("{OWNERS}/{}/{owner}", owner.id_prefix()))
}

/// Where the owners of ids starting with `prefix` are listed.
pub fn owners_of(prefix: &str) -> Path {
    Path::from(format!("{OWNERS}/{prefix}"))
}

/// Who the API key with this hash belongs to.
pub fn key(hash: &KeyHash) -> Path {
    Path::from(format!("{KEYS}/{}.json", hash.as_str()))
}

/// `owner`'s listing snapshot: a cache of their shares' records (see `storage::listing`).
pub fn listing_snapshot(owner: &Username) -> Path {
    Path::from(format!("{LISTINGS}/{owner}.json.gz"))
}

/// Which team `user` is in.
pub fn membership(user: &Username) -> Path {
    Path::from(format!("{MEMBERS}/{user}.json"))
}

/// Where a team's members are listed.
pub fn team(team: &Team) -> Path {
    Path::from(format!("{TEAMS}/{team}"))
}

/// `user`'s entry among `team`'s members.
pub fn team_member(team: &Team, user: &Username) -> Path {
    Path::from(format!("{TEAMS}/{team}/{user}"))
}

/// A scratch object of the start-up probe, its name drawn at random.
pub fn probe() -> Path {
    Path::from(format!("{PROBES}/{}", nanoid::nanoid!()))
}

/// What a key under `sessions/` is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    Share { owner: Username, id: ShareId },
    Revision { owner: Username, id: ShareId, revision: u32 },
}

/// Reads a key under `sessions/` back; `None` for anything this service did not write.
pub fn parse(path: &Path) -> Option<Stored> {
    let parts: Vec<&str> = path.as_ref().split('/').collect();
    match parts.as_slice() {
        [SESSIONS, owner, file] => Some(Stored::Share {
            owner: Username::parse(owner).ok()?,
            id: ShareId::parse(file.strip_suffix(EXTENSION)?).ok()?,
        }),
        [SESSIONS, owner, id, file] => Some(Stored::Revision {
            owner: Username::parse(owner).ok()?,
            id: ShareId::parse(id).ok()?,
            revision: file.strip_suffix(EXTENSION)?.parse().ok()?,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_the_owner_and_the_share_and_read_back() {
        let alice = Username::parse("Alice").unwrap();
        let id = ShareId::parse("K9gGyX8OELMtgEtasURHY").unwrap();
        assert_eq!(share(&alice, &id).as_ref(), "sessions/alice/K9gGyX8OELMtgEtasURHY.json.gz");
        assert_eq!(
            revision(&alice, &id, 3).as_ref(),
            "sessions/alice/K9gGyX8OELMtgEtasURHY/3.json.gz"
        );
        assert_eq!(owner_entry(&alice).as_ref(), "owners/K9gGyX8O/alice");
        assert_eq!(
            parse(&share(&alice, &id)),
            Some(Stored::Share { owner: alice.clone(), id: id.clone() })
        );
        assert_eq!(
            parse(&revision(&alice, &id, 3)),
            Some(Stored::Revision { owner: alice, id, revision: 3 })
        );
        for other in [
            "sessions/alice/x.json",
            "sessions/a..b/x.json.gz",
            "keys/abc.json",
            "sessions/alice/id/x.json.gz",
        ] {
            assert_eq!(parse(&Path::from(other)), None, "{other}");
        }
    }
}
