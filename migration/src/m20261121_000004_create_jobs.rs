//! `prompt_tracker_jobs`: durable background work (test runs, async evaluations), shared by
//! every service instance on the database.
//!
//! A job is `queued` until a worker claims it (`running`, `locked_by`, `locked_until` = the
//! lease), then `done` or `failed` (`last_error`). A `running` job whose lease expired (its
//! worker died) is claimable again. Claiming uses `FOR UPDATE SKIP LOCKED` on PostgreSQL and a
//! single `UPDATE ... RETURNING` on SQLite (one writer).
//!
//! `down` refuses while jobs are queued or running (naming them) and drops the table; finished
//! jobs are only an execution log, their results live in runs and evaluations.

use sea_orm_migration::prelude::*;

use crate::support::*;

pub struct Migration;

/// The table's name.
pub const JOBS: &str = "prompt_tracker_jobs";
/// Allowed `kind` values.
pub const JOB_KINDS: &[&str] = &["test_run", "evaluate_response"];
/// Allowed `status` values.
pub const JOB_STATUSES: &[&str] = &["queued", "running", "done", "failed"];

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261121_000004_create_jobs"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(JOBS)
                    .col(id())
                    .col(ColumnDef::new("kind").string().not_null().check((
                        "chk_prompt_tracker_jobs_kind",
                        Expr::cust(in_list("kind", JOB_KINDS)),
                    )))
                    .col(json("payload", "{}"))
                    .col(string_enum(JOBS, "status", JOB_STATUSES, "queued"))
                    .col(ColumnDef::new("attempts").integer().not_null().default(0))
                    .col(
                        ColumnDef::new("max_attempts")
                            .integer()
                            .not_null()
                            .default(3),
                    )
                    .col(timestamp("run_after"))
                    .col(ColumnDef::new("locked_by").string())
                    .col(ColumnDef::new("locked_until").timestamp())
                    .col(ColumnDef::new("last_error").text())
                    .col(timestamp("created_at"))
                    .col(timestamp("updated_at"))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "index_prompt_tracker_jobs_on_status_and_run_after",
            JOBS,
            &["status", "run_after", "id"],
            false,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        refuse_rows(
            manager,
            &format!("SELECT id FROM {JOBS} WHERE status IN ('queued', 'running') ORDER BY id"),
            "These jobs are still queued or running; let them finish (or stop the service) before rolling back",
        )
        .await?;
        manager
            .drop_table(Table::drop().table(JOBS).to_owned())
            .await
    }
}
