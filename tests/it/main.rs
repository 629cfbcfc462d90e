//! The one integration test binary of the workspace (docs/architecture.md, "Layout").
//!
//! Database tests run twice: `...::sqlite` always, `...::postgres` when `TEST_DATABASE_URL`
//! points at a PostgreSQL server (each test creates its own database there and drops it
//! after). With `PROMPT_TRACKER_REQUIRE_POSTGRES=1` (set by `.ci/run`) a missing
//! `TEST_DATABASE_URL` fails the PostgreSQL tests instead of skipping them.

mod support;

mod calls;
mod configs;
mod datasets;
mod evals_import;
mod health;
mod migrations;
mod observability;
mod openapi;
mod prompts;
mod runs;
mod schema;
mod tracking;
mod versions;
