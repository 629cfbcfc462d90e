//! Job claims read a few index entries, however many jobs have finished.
//!
//! A worker claims the oldest claimable job (`... WHERE (status = 'queued' AND run_after <= now)
//! OR (status = 'running' AND locked_until < now) ORDER BY id LIMIT 1`). With the
//! `(status, run_after, id)` index of `m20261121_000004`, PostgreSQL answers with a bitmap scan
//! of every queued job plus the dead index entries of every finished one, then sorts them by id:
//! ~1.5 ms per claim at 1,000 queued jobs, paid again by each of 32 workers for each job. This
//! migration replaces it with a partial index on the ids of unfinished jobs
//! (`WHERE status IN ('queued', 'running')`), which the claim walks in id order and stops at the
//! first claimable row (0.2 ms). On PostgreSQL it also makes autovacuum visit the table every
//! 500 changed rows (a queue table churns: each job is written three times), so dead entries do
//! not pile up in front of the live ones. `down` restores the old index and the default
//! autovacuum settings.

use sea_orm_migration::prelude::*;

use sea_orm_migration::sea_orm::DbBackend;

use crate::m20261121_000004_create_jobs::JOBS;
use crate::support::*;

pub struct Migration;

const INDEX: &str = "index_prompt_tracker_jobs_unfinished_on_id";
/// The index this one replaces (created by `m20261121_000004_create_jobs`).
const OLD_INDEX: &str = "index_prompt_tracker_jobs_on_status_and_run_after";
const AUTOVACUUM: &str = "autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 500, \
                          autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 500";

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261121_000008_index_unfinished_jobs"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec(
            manager,
            &format!(
                "CREATE INDEX IF NOT EXISTS {INDEX} ON {JOBS} (id) WHERE status IN ('queued', 'running')"
            ),
        )
        .await?;
        drop_index(manager, OLD_INDEX, JOBS).await?;
        if backend(manager) == DbBackend::Postgres {
            exec(manager, &format!("ALTER TABLE {JOBS} SET ({AUTOVACUUM})")).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if backend(manager) == DbBackend::Postgres {
            exec(
                manager,
                &format!(
                    "ALTER TABLE {JOBS} RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold, \
                     autovacuum_analyze_scale_factor, autovacuum_analyze_threshold)"
                ),
            )
            .await?;
        }
        index(
            manager,
            OLD_INDEX,
            JOBS,
            &["status", "run_after", "id"],
            false,
        )
        .await?;
        drop_index(manager, INDEX, JOBS).await
    }
}
