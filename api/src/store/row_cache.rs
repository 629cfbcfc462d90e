//! The JSON of listed rows, cached per row and checked against the row's version on every
//! read (PostgreSQL lists of LLM responses and evaluations).
//!
//! A list page is mostly moving rows: 51 rows of 24 columns through PostgreSQL's output
//! functions, the socket, the driver's decoding and the JSON writer (`perf` during
//! `scripts/load-tracking.sh`, phase C). Yet listed rows rarely change once written: LLM
//! responses and evaluations are inserted and, by this service, never updated. So each listed
//! row's JSON is kept, keyed by id and stamped with the version of the row it was made from,
//! and a page seen before is read as ids and versions only; the rows whose JSON is not held at
//! their current version are then read in full.
//!
//! ## Correctness
//! The row version is PostgreSQL's `xmin` system column: the id of the transaction that wrote
//! that version of the row. Every `UPDATE` writes a new version with the updating
//! transaction's id (PostgreSQL docs, "System Columns"; the same optimistic-concurrency token
//! Npgsql and EF Core use); `VACUUM FREEZE` keeps it readable (PostgreSQL 9.4+). Each page
//! asks PostgreSQL for every row's current `xmin`, so a row updated by anyone (another
//! instance, an operator's SQL, a migration) is read again and its entry replaced, and a
//! deleted row is not in the page. Nothing is ever invalidated, so any number of instances stay
//! correct without talking to each other (as [`crate::tracking::version_cache`] does with revisions). Two
//! versions of one row share an `xmin` only when one transaction wrote both, and only the last
//! of them is ever visible to another transaction; `xmin` is 32 bits, so an entry could only be
//! mistaken if the same row were rewritten exactly 2^32 transactions later while its old JSON
//! stayed cached. A row read in full after the ids (a second statement, a later snapshot) is
//! shown as it is then: newer, never older, than the ids said; a row deleted in between is left
//! out of the page.
//!
//! ## Cost, and which rows are cached
//! A page query (its SQL and values, hashed) seen for the first time is one statement that
//! reads the rows in full, as without the cache, and caches none of them: only the query is
//! remembered as seen. So a walk through every page (an export, a crawler) costs what it did
//! and does not push out the rows of the pages listed again and again. A page query seen
//! before first reads ids and versions (about a third of PostgreSQL's time for the rows in
//! full), then, when some rows are not held (new rows on the first page, rows changed,
//! entries evicted), reads those rows by id and caches them. What this buys, measured with
//! `scripts/load-tracking.sh`, is in the README ("Tracked calls and lists under load").
//!
//! The cache is bounded in bytes (`PROMPT_TRACKER_LIST_CACHE_MB`, default
//! [`DEFAULT_CAPACITY_MB`]; 0 turns it off: every page is one statement reading its rows in
//! full), quick_cache's CLOCK-Pro eviction.
//!
//! Each page counts its rows served from the cache and read in full as hits and misses of its
//! list (`prompt_tracker_list_cache_hits_total`, `..._misses_total`, [`crate::telemetry`]);
//! with the cache off nothing is counted.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use sea_orm::sea_query::Expr;
use sea_orm::{
    Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait, IdenStatic, QueryResult,
    QuerySelect, QueryTrait, Statement,
};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::error::Error;
use crate::store::pagination::{self, Keyset, Page};
use crate::store::positional::{self, Columns};

/// Default byte capacity of each list's cache, in MiB (~60,000 listed LLM responses of ~1 KB).
pub const DEFAULT_CAPACITY_MB: u64 = 64;

/// Page queries remembered as seen, per list.
const PAGES: usize = 4096;

/// Bookkeeping bytes counted per cached row on top of its JSON (the entry, its `Arc`, the
/// map's slot).
const ENTRY_OVERHEAD: u64 = 64;

/// One listed row's JSON, made from the row version `version` (its `xmin`).
#[derive(Debug)]
pub struct Fragment {
    pub version: i64,
    pub json: Box<RawValue>,
}

/// Weighs an entry by its JSON's bytes.
#[derive(Clone, Copy, Debug, Default)]
struct Bytes;

impl quick_cache::Weighter<i64, Arc<Fragment>> for Bytes {
    fn weight(&self, _: &i64, value: &Arc<Fragment>) -> u64 {
        value.json.get().len() as u64 + ENTRY_OVERHEAD
    }
}

/// The cached JSON of one list's rows (see the module docs). Cheap to clone (shared).
#[derive(Clone)]
pub struct RowCache {
    inner: Option<Arc<Inner>>,
    /// The list's name in metrics (`list` label).
    list: &'static str,
}

struct Inner {
    rows: quick_cache::sync::Cache<i64, Arc<Fragment>, Bytes>,
    /// Page queries answered before.
    pages: quick_cache::sync::Cache<u64, ()>,
}

impl std::fmt::Debug for RowCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = f.debug_struct("RowCache");
        s.field("list", &self.list);
        if let Some(inner) = &self.inner {
            s.field("rows", &inner.rows.len())
                .field("bytes", &inner.rows.weight());
        }
        s.finish()
    }
}

/// The statements of one list page on PostgreSQL ([`RowCache::fetch`]).
pub struct PageStatements {
    /// The page in full: select list `row_version`, `id`, then the listed columns; ids
    /// descending; at most `limit + 1` rows (the extra one only tells that a next page exists).
    pub rows: Statement,
    /// The same page's `row_version`, `id` only.
    pub ids: Statement,
    /// The table (for the rows read by id).
    pub table: &'static str,
    /// The listed columns, `id` first, as in `rows`.
    pub columns: Vec<&'static str>,
    /// The page requested (its size).
    pub keyset: Keyset,
}

impl PageStatements {
    /// The statements of one newest-first page of `E`'s rows ([`pagination::newest_first`]:
    /// `id` descending, `filters`, after the keyset's cursor) listing `columns` (`id` first).
    pub fn newest_first<E: EntityTrait>(
        columns: &[E::Column],
        id: E::Column,
        filters: Condition,
        keyset: Keyset,
    ) -> Self {
        let table = E::default().table_name();
        let page_of = |columns: &[E::Column]| {
            let select = E::find()
                .select_only()
                .expr_as(Expr::cust(row_version_expr(table)), "row_version")
                .columns(columns.iter().copied());
            let query = pagination::newest_first(select, id, filters.clone(), keyset);
            pagination::with_literal_limits(QueryTrait::build(&query, DbBackend::Postgres))
        };
        PageStatements {
            rows: page_of(columns),
            ids: page_of(&[id]),
            table,
            columns: columns.iter().map(IdenStatic::as_str).collect(),
            keyset,
        }
    }
}

/// The SQL selecting a table's row version as `row_version` (an `int8`; `xid` has no binary
/// decoder in the driver and no cast to an integer but through text).
pub fn row_version_expr(table: &str) -> String {
    format!("\"{table}\".xmin::text::int8")
}

/// A fetched page: its rows in order (the JSON of those held) and the rows read in full.
pub struct Fetched {
    key: u64,
    /// Whether the rows read are cached (the page query was seen before).
    admit: bool,
    /// The page's rows, in order: id, and its JSON when held at its current version.
    order: Vec<(i64, Option<Arc<Fragment>>)>,
    /// The cursor of the next page, when there is one.
    next_cursor: Option<String>,
    /// Rows read in full (`row_version`, `id`, the listed columns), in any order.
    results: Vec<QueryResult>,
}

/// A row read in full: its id, version and value.
pub struct Read<T> {
    pub id: i64,
    pub version: i64,
    pub row: T,
}

impl RowCache {
    /// A cache holding up to `capacity_bytes` of JSON (and bookkeeping); 0: no cache. Its
    /// metrics name the list `unnamed` until [`named`](Self::named).
    pub fn new(capacity_bytes: u64) -> Self {
        if capacity_bytes == 0 {
            return RowCache {
                inner: None,
                list: "unnamed",
            };
        }
        let estimated_rows = (capacity_bytes / 1024).clamp(16, 1 << 20) as usize;
        RowCache {
            inner: Some(Arc::new(Inner {
                rows: quick_cache::sync::Cache::with_weighter(
                    estimated_rows,
                    capacity_bytes,
                    Bytes,
                ),
                pages: quick_cache::sync::Cache::new(PAGES),
            })),
            list: "unnamed",
        }
    }

    /// This cache, named `list` in metrics (`llm_responses`, `evaluations`).
    #[must_use]
    pub fn named(mut self, list: &'static str) -> Self {
        self.list = list;
        self
    }

    /// The list's name in metrics.
    pub fn list(&self) -> &'static str {
        self.list
    }

    /// Whether the cache is on (a capacity above 0).
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Bytes held now: the rows' JSON and their bookkeeping.
    pub fn bytes(&self) -> u64 {
        self.inner.as_ref().map_or(0, |i| i.rows.weight())
    }

    /// Rows held now.
    pub fn len(&self) -> usize {
        self.inner.as_ref().map_or(0, |i| i.rows.len())
    }

    /// Whether no row is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fetches one page: the rows in full when the page query is new (or there is no cache),
    /// else the ids and versions, then the rows not held by id.
    ///
    /// # Errors
    /// The driver's; `DbErr::Type` when a statement's columns are not `row_version`, `id`, ...
    pub async fn fetch(
        &self,
        db: &impl ConnectionTrait,
        page: PageStatements,
    ) -> Result<Fetched, DbErr> {
        debug_assert_eq!(page.rows.db_backend, DbBackend::Postgres);
        let key = page_key(&page.rows);
        let inner = match &self.inner {
            Some(inner) if inner.pages.get(&key).is_some() => inner,
            _ => {
                let mut results = db.query_all_raw(page.rows).await?;
                let ids = positional::read_all(&results, |c| {
                    c.next::<i64>("row_version")
                        .and_then(|_| c.next::<i64>("id"))
                })?;
                let page = Page::from_rows(ids, page.keyset, |id| *id, |id| (id, None));
                results.truncate(page.data.len());
                if self.inner.is_some() {
                    crate::telemetry::list_cache(self.list, 0, page.data.len() as u64);
                }
                return Ok(Fetched {
                    key,
                    admit: false,
                    order: page.data,
                    next_cursor: page.next_cursor,
                    results,
                });
            }
        };
        let listed = db.query_all_raw(page.ids).await?;
        let versions: Vec<(i64, i64)> =
            positional::read_all(&listed, |c| Ok((c.next("row_version")?, c.next("id")?)))?;
        let Page {
            data: order,
            next_cursor,
        } = Page::from_rows(
            versions,
            page.keyset,
            |(_, id)| *id,
            |(version, id)| (id, inner.rows.get(&id).filter(|f| f.version == version)),
        );
        let missing: Vec<i64> = order
            .iter()
            .filter(|(_, held)| held.is_none())
            .map(|(id, _)| *id)
            .collect();
        crate::telemetry::list_cache(
            self.list,
            (order.len() - missing.len()) as u64,
            missing.len() as u64,
        );
        let results = if missing.is_empty() {
            Vec::new()
        } else {
            db.query_all_raw(by_id(page.table, &page.columns, missing))
                .await?
        };
        Ok(Fetched {
            key,
            admit: true,
            order,
            next_cursor,
            results,
        })
    }

    /// The JSON of a fetched page (a [`Page`]: `{"data": [...], "next_cursor": ...}`), its rows
    /// in order: the held ones as cached, the ones read in full (`rows`, from
    /// [`Fetched::read`]) serialised. Rows read for a page query seen before are cached with
    /// the version they were read at; a page query's first answer caches none (so that a walk
    /// through every page, an export, does not push out the rows that are listed again and
    /// again), it only remembers the query as seen. `bytes_per_row` reserves room.
    ///
    /// # Errors
    /// 500 if a row does not serialise.
    pub fn page_json<T: Serialize>(
        &self,
        fetched: &Fetched,
        rows: Vec<Read<T>>,
        bytes_per_row: usize,
    ) -> Result<Vec<u8>, Error> {
        let next_cursor = fetched.next_cursor.clone();
        if let Some(inner) = &self.inner {
            inner.pages.insert(fetched.key, ());
        }
        let inner = match &self.inner {
            Some(inner) if fetched.admit => inner,
            _ => {
                return Page {
                    data: rows.into_iter().map(|r| r.row).collect(),
                    next_cursor,
                }
                .to_json(bytes_per_row);
            }
        };
        let mut made = HashMap::with_capacity(rows.len());
        for Read { id, version, row } in rows {
            let json = serde_json::value::to_raw_value(&row)
                .map_err(|e| Error::Internal(format!("row {id}: {e}")))?;
            let fragment = Arc::new(Fragment { version, json });
            inner.rows.insert(id, fragment.clone());
            made.insert(id, fragment);
        }
        let fragments: Vec<Arc<Fragment>> = fetched
            .order
            .iter()
            .filter_map(|(id, held)| held.clone().or_else(|| made.get(id).cloned()))
            .collect();
        Page {
            data: fragments
                .iter()
                .map(|f| &*f.json)
                .collect::<Vec<&RawValue>>(),
            next_cursor,
        }
        .to_json(bytes_per_row)
    }
}

impl Fetched {
    /// Reads the rows fetched in full: `read` is given a row's id and reads its other listed
    /// columns (after `id`).
    ///
    /// # Errors
    /// `read`'s; `DbErr::Type` when the columns are not `row_version`, `id`, ...
    pub fn read<'r, T>(
        &'r self,
        read: impl Fn(i64, &mut Columns<'r>) -> Result<T, DbErr>,
    ) -> Result<Vec<Read<T>>, DbErr> {
        positional::read_all(&self.results, |c| {
            let version: i64 = c.next("row_version")?;
            let id: i64 = c.next("id")?;
            Ok(Read {
                id,
                version,
                row: read(id, c)?,
            })
        })
    }

    /// How many rows were read in full.
    pub fn read_count(&self) -> usize {
        self.results.len()
    }
}

/// A page query's identity: its SQL and values.
fn page_key(statement: &Statement) -> u64 {
    let mut hasher = DefaultHasher::new();
    statement.sql.hash(&mut hasher);
    format!("{:?}", statement.values).hash(&mut hasher);
    hasher.finish()
}

/// `SELECT row_version, columns... FROM table WHERE id = ANY($1)` for `ids` (one statement
/// text per table, whatever the number of ids).
fn by_id(table: &str, columns: &[&str], ids: Vec<i64>) -> Statement {
    let columns: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
    Statement::from_sql_and_values(
        DbBackend::Postgres,
        format!(
            "SELECT {} AS row_version, {} FROM \"{table}\" WHERE id = ANY($1)",
            row_version_expr(table),
            columns.join(", ")
        ),
        [sea_orm::Value::from(ids)],
    )
}
