//! What a tracked call reads before it writes (its version, the version's prompt, the
//! version's enabled evaluator configs), cached in memory per version id and per prompt slug.
//!
//! Entries are never trusted blindly: each carries the version's `revision`, which database
//! triggers advance on every change to the version, its prompt or its version-owned evaluator
//! configs (migration `m20261121_000010`), and the tracked call inserts its response with
//! `INSERT ... SELECT ... WHERE EXISTS (version with that revision)`. A stale entry therefore
//! inserts nothing; the caller drops it, reads again and retries. This keeps every instance
//! of the service correct without any cross-instance invalidation, and takes the two lookups
//! off the hot path (a tracked call is then one statement on PostgreSQL, see
//! [`crate::tracking::responses::track`]).
//! Answers computed from a cached entry that would be an error (a missing variable, a slug that
//! does not match) are re-checked against a fresh read before they are returned.
//!
//! The cache is bounded ([`CAPACITY`] entries, quick_cache's CLOCK-Pro eviction).

use std::sync::Arc;

use entity::prelude::*;
use entity::prompt_version::VersionStatus;
use entity::{evaluator_config, prompt, prompt_version};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use crate::error::{Error, Result};
use crate::evaluation::configs::{self, Owner};

/// Entries kept at most (versions and slugs together).
pub const CAPACITY: usize = 4096;

/// A tracked call's version as read at one `revision`.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub prompt_id: i64,
    pub prompt_slug: String,
    /// The version, with the `revision` it was read at.
    pub version: prompt_version::Model,
    /// The version's enabled evaluator configs, by priority then id.
    pub configs: Vec<evaluator_config::Model>,
}

/// How a tracked call names its version.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub enum Key {
    /// `prompt_version_id` (with or without `prompt_slug`, which is then checked).
    Version(i64),
    /// `prompt_slug` alone: the prompt's active version.
    Slug(String),
}

impl Key {
    /// The key of a request naming `prompt_slug` and/or `prompt_version_id`; 422 with neither.
    pub fn of(prompt_slug: Option<&str>, prompt_version_id: Option<i64>) -> Result<Key> {
        match (prompt_slug, prompt_version_id) {
            (_, Some(id)) => Ok(Key::Version(id)),
            (Some(slug), None) => Ok(Key::Slug(slug.to_owned())),
            (None, None) => Err(Error::invalid(
                "prompt_version_id",
                "give prompt_version_id or prompt_slug",
            )),
        }
    }
}

/// The cache (cheap to clone: clones share it).
#[derive(Clone)]
pub struct VersionCache {
    entries: Arc<quick_cache::sync::Cache<Key, Arc<Resolved>>>,
    /// Version id -> prompt id. A version never moves to another prompt (no endpoint or
    /// migration changes `prompt_versions.prompt_id`), so these entries never go stale.
    prompt_ids: Arc<quick_cache::sync::Cache<i64, i64>>,
}

impl Default for VersionCache {
    fn default() -> Self {
        VersionCache {
            entries: Arc::new(quick_cache::sync::Cache::new(CAPACITY)),
            prompt_ids: Arc::new(quick_cache::sync::Cache::new(CAPACITY)),
        }
    }
}

impl std::fmt::Debug for VersionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VersionCache")
            .field("len", &self.entries.len())
            .field("prompt_ids", &self.prompt_ids.len())
            .finish()
    }
}

impl VersionCache {
    /// The cached entry of `key`, if any (it may be stale: see the module docs).
    pub fn get(&self, key: &Key) -> Option<Arc<Resolved>> {
        self.entries.get(key)
    }

    /// Drops `key`'s entry.
    pub fn forget(&self, key: &Key) {
        self.entries.remove(key);
    }

    /// The prompt id of each of `versions` (same order), from memory, reading the versions
    /// not seen before in one query. Lists of LLM responses use it instead of joining every
    /// row to its version (51 index lookups per page on PostgreSQL).
    ///
    /// # Errors
    /// The driver's; 500 for a version that does not exist (rows reference versions by a
    /// foreign key, so only a caller's mistake can ask for one).
    pub async fn prompt_ids(
        &self,
        db: &impl ConnectionTrait,
        versions: &[i64],
    ) -> Result<Vec<i64>> {
        let mut known = std::collections::HashMap::new();
        let mut missing = Vec::new();
        for &version in versions {
            if known.contains_key(&version) || missing.contains(&version) {
                continue;
            }
            match self.prompt_ids.get(&version) {
                Some(prompt) => {
                    known.insert(version, prompt);
                }
                None => missing.push(version),
            }
        }
        if !missing.is_empty() {
            let found: Vec<(i64, i64)> = PromptVersion::find()
                .select_only()
                .column(prompt_version::Column::Id)
                .column(prompt_version::Column::PromptId)
                .filter(prompt_version::Column::Id.is_in(missing))
                .into_tuple()
                .all(db)
                .await?;
            for (version, prompt) in found {
                self.prompt_ids.insert(version, prompt);
                known.insert(version, prompt);
            }
        }
        versions
            .iter()
            .map(|v| {
                known
                    .get(v)
                    .copied()
                    .ok_or_else(|| Error::Internal(format!("version {v} does not exist")))
            })
            .collect()
    }

    /// Reads `key` from the database (version joined to its prompt, then the configs: the
    /// revision is read first, so a config change in between makes the entry stale, never
    /// wrong) and caches it. 422 when the version or slug is unknown or the slug's prompt has
    /// no active version; nothing is cached then.
    pub async fn load(&self, db: &impl ConnectionTrait, key: &Key) -> Result<Arc<Resolved>> {
        let (prompt, version) = read_version(db, key).await?;
        let configs = configs::enabled_of(db, Owner::Version(version.id)).await?;
        let resolved = Arc::new(Resolved {
            prompt_id: prompt.id,
            prompt_slug: prompt.slug,
            version,
            configs,
        });
        self.entries.insert(key.clone(), resolved.clone());
        Ok(resolved)
    }
}

/// The version `key` names and its prompt, in one query.
async fn read_version(
    db: &impl ConnectionTrait,
    key: &Key,
) -> Result<(prompt::Model, prompt_version::Model)> {
    let query = PromptVersion::find().find_also_related(Prompt);
    match key {
        Key::Version(id) => {
            let (version, prompt) = query
                .filter(prompt_version::Column::Id.eq(*id))
                .one(db)
                .await?
                .ok_or_else(|| {
                    Error::invalid("prompt_version_id", format!("version {id} does not exist"))
                })?;
            let prompt =
                prompt.ok_or_else(|| Error::Internal(format!("version {id} has no prompt")))?;
            Ok((prompt, version))
        }
        Key::Slug(slug) => {
            let found = query
                .filter(prompt::Column::Slug.eq(slug.as_str()))
                .filter(prompt_version::Column::Status.eq(VersionStatus::Active))
                .one(db)
                .await?;
            if let Some((version, Some(prompt))) = found {
                return Ok((prompt, version));
            }
            // No active version: say whether the slug itself is unknown.
            let known = Prompt::find()
                .filter(prompt::Column::Slug.eq(slug.as_str()))
                .one(db)
                .await?
                .is_some();
            Err(if known {
                Error::invalid(
                    "prompt_slug",
                    format!("prompt {slug:?} has no active version; pass prompt_version_id"),
                )
            } else {
                Error::invalid("prompt_slug", format!("no prompt has the slug {slug:?}"))
            })
        }
    }
}
