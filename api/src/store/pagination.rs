//! Keyset pagination (docs/architecture.md, "Database rules"): `?limit=` (default 50, max 500) and an opaque `?cursor=`;
//! responses are `{ "data": [...], "next_cursor": "..." | null }`. No list reads unbounded.
//!
//! The cursor is the last row's id, base64url-encoded (`id:<n>`); a page continues strictly
//! after it in the list's order, so rows inserted meanwhile never shift a page.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use sea_orm::sea_query::{Expr, ExprTrait, Query, Value, Values};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait, FromQueryResult,
    JoinType, Order, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Select, Statement,
};

use crate::error::Error;

/// One newest-first page of `select`'s entity: the rows matching `filters` after the keyset's
/// cursor, ids descending, at most `limit + 1` of them (the extra row only tells that a next
/// page exists: [`Page::from_rows`]). `id` is the entity's primary key.
///
/// The SQL has one of two shapes, chosen for PostgreSQL's plans (EXPLAIN ANALYZE on the database
/// of `scripts/load-tracking.sh` with KEEP=1, 1,000,000 LLM responses):
/// - without filters, `... WHERE id < $cursor ORDER BY id DESC LIMIT n`: a backward scan of the
///   primary key that stops after n rows;
/// - with filters, `... JOIN (SELECT id FROM t WHERE filters AND id < $cursor ORDER BY id DESC
///   LIMIT n) AS page ON t.id = page.id ORDER BY t.id DESC`. The subquery is answered from an
///   index alone (`(prompt_version_id, id)`, `(environment, id)` ...: an index-only scan that
///   reads n entries), then each row is fetched by primary key, in the subquery's order, so
///   there is nothing to sort. Asked for whole rows in one query, PostgreSQL walks the primary
///   key backwards and filters heap rows instead (it assumes matching rows are spread evenly):
///   90 ms for a deprecated version whose rows are all old, 0.4 ms this way. The join replaced
///   `id IN (subquery)`, which cost a hash aggregate and a sort of the page's rows (PostgreSQL's
///   time per page, `pgbench -M prepared` at 1 client: 0.58 ms with `IN`, 0.45 ms joined).
pub fn newest_first<E: EntityTrait>(
    mut select: Select<E>,
    id: E::Column,
    filters: Condition,
    keyset: Keyset,
) -> Select<E> {
    let after = keyset.after.map(|after| id.lt(after));
    let limit = keyset.limit + 1;
    if filters.is_empty() {
        return select
            .filter(Condition::all().add_option(after))
            .order_by_desc(id)
            .limit(limit);
    }
    let page = Query::select()
        .column(id)
        .from(E::default())
        .cond_where(filters.add_option(after))
        .order_by(id, Order::Desc)
        .limit(limit)
        .to_owned();
    QueryTrait::query(&mut select).join_subquery(
        JoinType::InnerJoin,
        page,
        PAGE,
        Expr::col((PAGE, id)).equals((E::default(), id)),
    );
    select.order_by_desc(id)
}

/// The alias of a filtered page's ids in [`newest_first`].
const PAGE: &str = "page";

/// Reads a page's rows: `query` as [`with_literal_limits`] rewrites it.
///
/// # Errors
/// The driver's.
pub async fn fetch<M: FromQueryResult>(
    db: &impl ConnectionTrait,
    query: &impl QueryTrait,
) -> Result<Vec<M>, DbErr> {
    let statement = with_literal_limits(query.build(db.get_database_backend()));
    M::find_by_statement(statement).all(db).await
}

/// [`fetch`] for a plain select of an entity's rows.
///
/// # Errors
/// The driver's.
pub async fn rows<E: EntityTrait>(
    db: &impl ConnectionTrait,
    query: &sea_orm::Select<E>,
) -> Result<Vec<E::Model>, DbErr> {
    fetch(db, query).await
}

/// `statement` with every `LIMIT $n` written as the number it binds (PostgreSQL only; other
/// backends' statements are returned as they are), the remaining placeholders renumbered.
///
/// Why: PostgreSQL plans a prepared statement for its parameters' values (a custom plan) until
/// a plan made without them (the generic plan) is estimated as cheap, and a generic plan
/// assumes `LIMIT $n` keeps 10% of the rows. A list query therefore never got a generic plan
/// and was planned again on every request: 0.35 ms of planning for 0.2-0.3 ms of execution at
/// 1,000,000 LLM responses (`EXPLAIN (ANALYZE, SUMMARY) EXECUTE` on the database of
/// `scripts/load-tracking.sh` with KEEP=1; PostgreSQL docs, PREPARE, "plan_cache_mode"). With
/// the limit in the text the generic plan is the same index-only page scan and is reused after
/// five executions (planning 0.007 ms). Page sizes are 1-500 and clients use one or two, so
/// the prepared-statement caches see a handful of texts per query.
pub fn with_literal_limits(statement: Statement) -> Statement {
    let Statement {
        sql,
        values,
        db_backend,
    } = statement;
    let values = match values {
        Some(Values(values)) if db_backend == DbBackend::Postgres => values,
        values => {
            return Statement {
                sql,
                values,
                db_backend,
            };
        }
    };
    let literal = |n: usize| match values.get(n.wrapping_sub(1)) {
        Some(Value::BigUnsigned(Some(v))) => Some(v.to_string()),
        Some(Value::BigInt(Some(v))) if *v >= 0 => Some(v.to_string()),
        _ => None,
    };
    // Placeholders outside quoted identifiers and literals: (byte range of `$n`, n).
    let mut placeholders = Vec::new();
    let bytes = sql.as_bytes();
    let mut quote = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'\'' || b == b'"' => quote = Some(b),
            None if b == b'$' => {
                let digits = bytes[i + 1..]
                    .iter()
                    .take_while(|d| d.is_ascii_digit())
                    .count();
                if let Ok(n) = sql[i + 1..i + 1 + digits].parse::<usize>() {
                    placeholders.push((i..i + 1 + digits, n));
                    i += digits;
                }
            }
            None => {}
        }
        i += 1;
    }
    let inlined: Vec<usize> = placeholders
        .iter()
        .filter(|(range, n)| sql[..range.start].ends_with(" LIMIT ") && literal(*n).is_some())
        .map(|(_, n)| *n)
        .collect();
    // A parameter bound once, as a limit, only (sea-query binds each value once).
    let used_once = |n: &usize| placeholders.iter().filter(|(_, m)| m == n).count() == 1;
    if inlined.is_empty() || !inlined.iter().all(used_once) {
        return Statement {
            sql,
            values: Some(Values(values)),
            db_backend,
        };
    }
    let mut out = String::with_capacity(sql.len());
    let mut last = 0;
    for (range, n) in &placeholders {
        out.push_str(&sql[last..range.start]);
        if inlined.contains(n) {
            out.push_str(&literal(*n).unwrap_or_default());
        } else {
            let before = inlined.iter().filter(|m| *m < n).count();
            out.push_str(&format!("${}", n - before));
        }
        last = range.end;
    }
    out.push_str(&sql[last..]);
    let kept = values
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !inlined.contains(&(i + 1)))
        .map(|(_, v)| v)
        .collect();
    Statement {
        sql: out,
        values: Some(Values(kept)),
        db_backend,
    }
}

/// Default page size.
pub const DEFAULT_LIMIT: u64 = 50;
/// Largest page size.
pub const MAX_LIMIT: u64 = 500;

/// `?limit=&cursor=` of a list request.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size, 1-500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A validated page request: at most `limit` rows after the row with id `after`.
#[derive(Clone, Copy, Debug)]
pub struct Keyset {
    pub limit: u64,
    pub after: Option<i64>,
}

impl PageParams {
    /// Validates the limit and decodes the cursor (422 naming the parameter otherwise).
    pub fn keyset(&self) -> Result<Keyset, Error> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(Error::invalid(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let after =
            match self.cursor.as_deref() {
                None | Some("") => None,
                Some(c) => Some(decode(c).ok_or_else(|| {
                    Error::invalid("cursor", "is not a cursor returned by this API")
                })?),
            };
        Ok(Keyset { limit, after })
    }
}

fn decode(cursor: &str) -> Option<i64> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    String::from_utf8(bytes)
        .ok()?
        .strip_prefix("id:")?
        .parse()
        .ok()
}

/// The opaque cursor after row `id`.
pub fn encode(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("id:{id}"))
}

/// One page of a list.
#[derive(Clone, Debug, Serialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Pass as `?cursor=` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

// Written by hand so that `data.items` is a `$ref` to the item schema: the derive inlines a
// copy of `T`, which gives generated clients one duplicate class per list. utoipa derives
// `PartialSchema` from this (doc-hidden) trait, through which its path macro composes generics.
impl<T: ToSchema> utoipa::__dev::ComposeSchema for Page<T> {
    fn compose(
        _: Vec<utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>>,
    ) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::Ref;
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
        ObjectBuilder::new()
            .description(Some("One page of a list (keyset pagination)."))
            .property(
                "data",
                ArrayBuilder::new().items(Ref::from_schema_name(T::name())),
            )
            .required("data")
            .property(
                "next_cursor",
                ObjectBuilder::new()
                    .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
                    .description(Some(
                        "Pass as `?cursor=` for the next page; `null` on the last page.",
                    )),
            )
            .required("next_cursor")
            .into()
    }
}

impl<T: ToSchema> ToSchema for Page<T> {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("Page")
    }

    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        schemas.push((T::name().into_owned(), T::schema()));
        T::schemas(schemas);
    }
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` fetched rows: the extra row only tells that a
    /// next page exists. `id` gives a row's id.
    pub fn from_rows<R>(
        mut rows: Vec<R>,
        keyset: Keyset,
        id: impl Fn(&R) -> i64,
        map: impl Fn(R) -> T,
    ) -> Self {
        let more = rows.len() as u64 > keyset.limit;
        rows.truncate(keyset.limit as usize);
        let next_cursor = if more {
            rows.last().map(|r| encode(id(r)))
        } else {
            None
        };
        Page {
            data: rows.into_iter().map(map).collect(),
            next_cursor,
        }
    }
}

impl<T: Serialize> Page<T> {
    /// The page as JSON (what `axum::Json` would send), with room reserved for `bytes_per_row`
    /// bytes per row so the buffer is not regrown while writing.
    ///
    /// # Errors
    /// 500 if a value does not serialise (it always does for the list rows).
    pub fn to_json(&self, bytes_per_row: usize) -> Result<Vec<u8>, Error> {
        let mut body = Vec::with_capacity(64 + self.data.len() * bytes_per_row);
        serde_json::to_writer(&mut body, self).map_err(|e| Error::Internal(e.to_string()))?;
        Ok(body)
    }
}

/// A naive UTC timestamp (as stored) as RFC 3339 UTC.
pub fn utc(t: chrono::NaiveDateTime) -> chrono::DateTime<chrono::Utc> {
    t.and_utc()
}

/// The current UTC time as stored: naive, truncated to whole microseconds (PostgreSQL's
/// `timestamp` resolution), so a row built in memory equals the row read back.
pub fn now_micros() -> chrono::NaiveDateTime {
    use chrono::SubsecRound;
    chrono::Utc::now().naive_utc().trunc_subsecs(6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use entity::evaluation;
    use entity::prelude::Evaluation;

    fn page(after: i64, limit: u64) -> sea_orm::Select<Evaluation> {
        newest_first(
            Evaluation::find().filter(evaluation::Column::Passed.eq(true)),
            evaluation::Column::Id,
            Condition::all().add(evaluation::Column::EvaluatorType.eq("it's $1 LIMIT $2")),
            Keyset {
                limit: limit - 1,
                after: Some(after),
            },
        )
    }

    #[test]
    fn limits_become_literals_and_other_placeholders_are_renumbered() {
        let built = with_literal_limits(page(7, 51).build(DbBackend::Postgres));
        let sql = &built.sql;
        let table = "\"prompt_tracker_evaluations\"";
        assert!(
            sql.contains(&format!(
                "INNER JOIN (SELECT \"id\" FROM {table} WHERE {table}.\"evaluator_type\" = $1 \
                 AND {table}.\"id\" < $2 ORDER BY \"id\" DESC LIMIT 51) AS \"page\" \
                 ON \"page\".\"id\" = {table}.\"id\" WHERE {table}.\"passed\" = $3"
            )),
            "{sql}"
        );
        assert!(
            sql.ends_with(&format!("ORDER BY {table}.\"id\" DESC")),
            "{sql}"
        );
        assert!(!sql.contains("$4"), "{sql}");
        assert_eq!(
            built.values.unwrap().0,
            vec![
                Value::String(Some("it's $1 LIMIT $2".to_owned())),
                Value::BigInt(Some(7)),
                Value::Bool(Some(true)),
            ]
        );
    }

    #[test]
    fn unfiltered_pages_scan_the_primary_key() {
        let keyset = Keyset {
            limit: 50,
            after: Some(9),
        };
        let query = newest_first(
            Evaluation::find(),
            evaluation::Column::Id,
            Condition::all(),
            keyset,
        );
        let built = with_literal_limits(query.build(DbBackend::Postgres));
        assert!(
            built.sql.ends_with(
                "FROM \"prompt_tracker_evaluations\" WHERE \"prompt_tracker_evaluations\".\"id\" < $1 \
                 ORDER BY \"prompt_tracker_evaluations\".\"id\" DESC LIMIT 51"
            ),
            "{}",
            built.sql
        );
        assert_eq!(built.values.unwrap().0, vec![Value::BigInt(Some(9))]);
    }

    #[test]
    fn quoted_dollars_are_not_placeholders() {
        let built = with_literal_limits(Statement::from_sql_and_values(
            DbBackend::Postgres,
            r#"SELECT '$1 LIMIT $2' AS "a LIMIT $2", $1 FROM t LIMIT $2"#,
            [Value::BigInt(Some(4)), Value::BigUnsigned(Some(5))],
        ));
        assert_eq!(
            built.sql,
            r#"SELECT '$1 LIMIT $2' AS "a LIMIT $2", $1 FROM t LIMIT 5"#
        );
        assert_eq!(built.values.unwrap().0, vec![Value::BigInt(Some(4))]);
    }

    #[test]
    fn other_backends_and_statements_without_limits_are_unchanged() {
        let sqlite = page(7, 51).build(DbBackend::Sqlite);
        assert_eq!(with_literal_limits(sqlite.clone()), sqlite);
        let no_limit = Evaluation::find()
            .filter(evaluation::Column::Id.lt(3))
            .build(DbBackend::Postgres);
        assert_eq!(with_literal_limits(no_limit.clone()), no_limit);
    }
}
