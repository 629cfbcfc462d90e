//! The standard sea-orm-migration CLI: `cargo run -p migration -- up -u <url>`, `down -n N`,
//! `status`, `fresh`, `refresh`, `reset`; also what `sea-orm-cli migrate` runs.

use sea_orm_migration::prelude::*;

#[tokio::main]
async fn main() {
    cli::run_cli(migration::Migrator).await;
}
