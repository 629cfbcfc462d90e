//! Keyset pagination (DESIGN.md): `?limit=` (default 50, max 500) and an opaque `?cursor=`;
//! responses are `{ "data": [...], "next_cursor": "..." | null }`. No list reads unbounded.
//!
//! The cursor is the last row's id, base64url-encoded (`id:<n>`); a page continues strictly
//! after it in the list's order, so rows inserted meanwhile never shift a page.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use sea_orm::sea_query::{Query, SelectStatement};
use sea_orm::{Condition, EntityTrait, Order};

use crate::error::Error;

/// The ids of one newest-first page: `SELECT id FROM <E> WHERE cond ORDER BY id DESC LIMIT n`,
/// to be used as `id IN (...)` by the query that reads the rows.
///
/// On its own, PostgreSQL answers it from an index alone (`(prompt_version_id, id)`,
/// `(environment, id)` ...: an index-only scan that reads n entries) and the rows are then
/// fetched by primary key. Asked for whole rows in one query, it walks the primary key
/// backwards and filters heap rows instead (it assumes matching rows are spread evenly): 90 ms
/// at 1,000,000 LLM responses for a deprecated version whose rows are all old, 0.4 ms this way
/// (EXPLAIN ANALYZE on the database of `scripts/load-tracking.sh` with KEEP=1).
pub fn newest_ids<E: EntityTrait>(id: E::Column, cond: Condition, limit: u64) -> SelectStatement {
    Query::select()
        .column(id)
        .from(E::default())
        .cond_where(cond)
        .order_by(id, Order::Desc)
        .limit(limit)
        .to_owned()
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
