//! The one writer of LLM-call rows: nothing else in the service inserts into
//! `prompt_tracker_llm_responses`. Every source of calls (tracked calls,
//! [`crate::tracking::responses`]; test runs, [`crate::testing::runs`]; and any later one,
//! such as a logging proxy) describes its call as an [`LlmCall`], turns it into a row with
//! [`normalise`] (the one validation) and writes that row with the functions here: [`insert`]
//! (a plain insert), or [`insert_checked`] / [`insert_checked_with_evaluations`] (only while
//! the prompt version is at the revision the caller read; with the call's evaluations in the
//! same statement) and [`insert_evaluations`]. Evaluations written together with their
//! response (a tracked call's `sync` ones) are inserted here too; those written later (a test
//! run's, async and manual ones) belong to [`crate::evaluation::evaluations`].
//!
//! # Rules, the same for every source
//! - `response_time_ms`, `tokens_prompt`, `tokens_completion` and `tokens_total` are `integer`
//!   columns (baseline migration `m20250101_000001`): each is 0..=2,147,483,647.
//! - `tokens_total` is derived as `tokens_prompt + tokens_completion` when the source gives
//!   none and both counts are known (left null when the sum does not fit the column).
//! - `cost_usd` is `numeric(10, 6)` (baseline migration): rounded to 6 decimal places,
//!   `MidpointAwayFromZero`, and at most [`MAX_COST_USD`] (9999.999999) *after* rounding
//!   (9999.9999996 rounds to 10000.000000, which the column cannot hold). A cost the source
//!   reports must be finite and >= 0. Without one, the cost is computed from the price table
//!   ([`PriceTable::cost_usd`], which rounds the same way) from the provider, model and
//!   token counts; null when the model has no price, no count is known, or a count was
//!   dropped (see below).
//! - `created_at` = `updated_at` = now at whole microseconds
//!   ([`crate::store::pagination::now_micros`]: PostgreSQL's `timestamp` keeps microseconds,
//!   SQLite keeps whatever text it is given), so the row built here is the row every later
//!   read returns, on both backends.
//! - `is_test_run` is true exactly for [`Source::TestRun`].
//!
//! # A value the row cannot hold
//! What happens to it depends on the [`Source`]:
//! - [`Source::TrackedCall`]: the call is the client's report, and the client can correct it.
//!   [`normalise`] fails with every invalid field named (a 422 once it reaches HTTP) and
//!   nothing is stored. For a cost computed from the price table above the bound, the
//!   message asks the client to check its token counts or send `cost_usd`.
//! - [`Source::TestRun`]: the service made the call itself, and the provider's real answer
//!   (already paid for) must always be recorded. The value is stored as null instead, and
//!   `response_metadata.recording_notes` says so: one `{"field", "value", "message"}` per
//!   dropped value (a decimal `value` as a string, e.g. a computed cost of `"15000.002500"`),
//!   and a warning is logged. [`normalise`] never fails for this source. The run goes on as
//!   usual (its evaluations and verdict do not depend on the cost); its own `cost_usd`,
//!   copied from the response, is null too.

use entity::evaluation;
use entity::llm_response::{self, ResponseStatus};
use entity::prelude::*;
use entity::prompt_version;
use rust_decimal::Decimal;
use rust_decimal::RoundingStrategy;
use rust_decimal::prelude::FromPrimitive;
use sea_orm::sea_query::{
    Alias, CommonTableExpression, Expr, InsertStatement, Query, WithClause, WithQuery,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel,
    Iterable, ModelTrait, Set,
};
use serde_json::{Map, Value, json};

use crate::catalog::pricing::PriceTable;
use crate::error::{Error, Result};
use crate::validation::{Errors, FieldError};

/// Largest `cost_usd` the column holds (`numeric(10, 6)`).
pub const MAX_COST_USD: Decimal = Decimal::from_parts(1_410_065_407, 2, 0, false, 6); // 9999.999999

/// Where an LLM call comes from: decides `is_test_run` and what happens to a value the row
/// cannot hold (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Reported by a client app (`POST /api/v1/llm-responses`): invalid values are refused.
    TrackedCall,
    /// Made by a prompt test run: always recorded, invalid values stored as null with a note.
    TestRun,
}

impl Source {
    /// Whether calls of this source are test calls (`is_test_run`).
    pub fn is_test_run(self) -> bool {
        self == Source::TestRun
    }

    /// Whether a value the row cannot hold refuses the call (else it is recorded as null).
    pub fn refuses_invalid(self) -> bool {
        self == Source::TrackedCall
    }
}

/// An LLM call to record, as every source provides it. Numbers are as wide as any source
/// reports them; [`normalise`] checks that they fit the row.
#[derive(Clone, Debug, PartialEq)]
pub struct LlmCall {
    pub source: Source,
    pub prompt_version_id: i64,
    pub rendered_prompt: String,
    pub rendered_system_prompt: Option<String>,
    /// The variables the prompts were rendered with.
    pub variables: Map<String, Value>,
    pub response_text: Option<String>,
    pub status: ResponseStatus,
    pub error_type: Option<String>,
    pub error_message: Option<String>,
    /// Wall time of the call, ms.
    pub response_time_ms: Option<i64>,
    pub tokens_prompt: Option<i64>,
    pub tokens_completion: Option<i64>,
    /// Derived from the other two when None.
    pub tokens_total: Option<i64>,
    /// USD as the source reports it; None: computed from the price table.
    pub cost_usd: Option<f64>,
    /// Provider key such as `openai` (a compound value is split by the source).
    pub provider: String,
    pub api: Option<String>,
    pub model: String,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub environment: Option<String>,
    pub context: Map<String, Value>,
    /// Provider metadata (response id, finish reason, ...).
    pub response_metadata: Map<String, Value>,
}

/// A validated, normalised LLM-call row, ready to insert (its `id` is 0 until then). Only
/// [`normalise`] makes one, so every row the insert functions write went through it.
#[derive(Clone, Debug, PartialEq)]
pub struct ResponseRow(llm_response::Model);

impl ResponseRow {
    /// The row (with `id` 0), e.g. for evaluators that run before the insert.
    pub fn model(&self) -> &llm_response::Model {
        &self.0
    }

    /// The row as stored under `id` (what a later read returns).
    pub fn stored(self, id: i64) -> llm_response::Model {
        let mut model = self.0;
        model.id = id;
        model
    }
}

/// Validates and normalises `call` into the row to store, by the rules of the module docs
/// (`prices` costs a call that reports no cost).
///
/// # Errors
/// For [`Source::TrackedCall`] only: every field whose value the row cannot hold. A
/// [`Source::TestRun`] call always gives a row.
pub fn normalise(
    call: LlmCall,
    prices: &PriceTable,
) -> std::result::Result<ResponseRow, Vec<FieldError>> {
    let mut check = Check {
        source: call.source,
        errors: Errors::default(),
        notes: Vec::new(),
    };
    let response_time_ms = check.count("response_time_ms", call.response_time_ms);
    let tokens_prompt = check.count("tokens_prompt", call.tokens_prompt);
    let tokens_completion = check.count("tokens_completion", call.tokens_completion);
    let counts_dropped = (call.tokens_prompt.is_some() && tokens_prompt.is_none())
        || (call.tokens_completion.is_some() && tokens_completion.is_none());
    let tokens_total = match call.tokens_total {
        Some(total) => check.count("tokens_total", Some(total)),
        None => match (tokens_prompt, tokens_completion) {
            (Some(p), Some(c)) => p.checked_add(c),
            _ => None,
        },
    };
    let cost_usd = match call.cost_usd {
        Some(reported) => {
            let rounded = Decimal::from_f64(reported)
                .filter(|_| reported >= 0.0)
                .map(|d| d.round_dp_with_strategy(6, RoundingStrategy::MidpointAwayFromZero));
            match rounded {
                Some(c) if c <= MAX_COST_USD => Some(c),
                _ => {
                    check.invalid(
                        "cost_usd",
                        json!(reported),
                        "must be between 0 and 9999.999999",
                        "the reported cost is not between 0 and 9999.999999 USD (cost_usd is \
                         numeric(10,6))",
                    );
                    None
                }
            }
        }
        // An unknown count makes the cost unknown, not smaller.
        None if counts_dropped => None,
        None => match prices.cost_usd(
            &call.provider,
            &call.model,
            tokens_prompt.map(i64::from),
            tokens_completion.map(i64::from),
        ) {
            Some(c) if c > MAX_COST_USD => {
                check.invalid(
                    "cost_usd",
                    json!(c.to_string()),
                    "computed from the token counts exceeds 9999.999999 USD: check tokens_prompt \
                     and tokens_completion, or send cost_usd",
                    "the cost computed from the token counts exceeds 9999.999999 USD, the \
                     largest value cost_usd (numeric(10,6)) holds",
                );
                None
            }
            c => c,
        },
    };
    check.errors.finish()?;
    let mut response_metadata = call.response_metadata;
    if !check.notes.is_empty() {
        let notes = Value::Array(check.notes);
        tracing::warn!(
            prompt_version_id = call.prompt_version_id,
            %notes,
            "LLM call recorded with values its row cannot hold stored as null"
        );
        response_metadata.insert("recording_notes".to_owned(), notes);
    }
    let now = crate::store::pagination::now_micros();
    Ok(ResponseRow(llm_response::Model {
        id: 0,
        prompt_version_id: call.prompt_version_id,
        rendered_prompt: call.rendered_prompt,
        rendered_system_prompt: call.rendered_system_prompt,
        variables_used: Value::Object(call.variables),
        response_text: call.response_text,
        response_metadata: Value::Object(response_metadata),
        status: call.status,
        error_type: call.error_type,
        error_message: call.error_message,
        response_time_ms,
        tokens_prompt,
        tokens_completion,
        tokens_total,
        cost_usd,
        provider: call.provider,
        api: call.api,
        model: call.model,
        user_id: call.user_id,
        session_id: call.session_id,
        environment: call.environment,
        context: Value::Object(call.context),
        is_test_run: call.source.is_test_run(),
        created_at: now,
        updated_at: now,
    }))
}

/// What [`normalise`] found wrong: field errors (refusing sources) or notes (recording ones).
struct Check {
    source: Source,
    errors: Errors,
    notes: Vec<Value>,
}

impl Check {
    /// A value `field` cannot hold: a field error saying `refusal`, or (for a source that
    /// records every call) a note saying `why` it was recorded as null.
    fn invalid(&mut self, field: &str, value: Value, refusal: &str, why: &str) {
        if self.source.refuses_invalid() {
            self.errors.add(field, refusal);
        } else {
            self.notes.push(json!({
                "field": field,
                "value": value,
                "message": format!("{why}; recorded as null"),
            }));
        }
    }

    /// A count for an `integer` column: 0..=i32::MAX, else [`Check::invalid`].
    fn count(&mut self, field: &str, value: Option<i64>) -> Option<i32> {
        let v = value?;
        if v < 0 {
            self.invalid(field, json!(v), "must be >= 0", "negative");
            return None;
        }
        match i32::try_from(v) {
            Ok(v) => Some(v),
            Err(_) => {
                self.invalid(
                    field,
                    json!(v),
                    "must be at most 2147483647",
                    "larger than the integer column holds",
                );
                None
            }
        }
    }
}

/// Inserts `row` (one `INSERT ... RETURNING`) and returns it as stored. Test runs use it.
pub async fn insert(conn: &impl ConnectionTrait, row: ResponseRow) -> Result<llm_response::Model> {
    let mut active = row.0.into_active_model().reset_all();
    active.id = ActiveValue::NotSet;
    Ok(active.insert(conn).await?)
}

/// Inserts `row` only while `version` is still at its `revision` (tracked calls read the
/// version from a cache): one statement, `INSERT ... SELECT ... WHERE EXISTS (<the version at
/// that revision>) RETURNING id`. `Ok(None)` when the version changed (nothing inserted);
/// else the new row's id.
pub async fn insert_checked(
    conn: &impl ConnectionTrait,
    row: &ResponseRow,
    version: &prompt_version::Model,
) -> Result<Option<i64>> {
    let Some(inserted) = conn.query_one(&checked(&row.0, version)?).await? else {
        return Ok(None);
    };
    Ok(Some(inserted.try_get("", "id")?))
}

/// Inserts the evaluations of response `response_id` (rows built before it was inserted:
/// their `llm_response_id` is set here) in one multi-row insert; their ids, in order.
pub async fn insert_evaluations(
    conn: &impl ConnectionTrait,
    response_id: i64,
    evaluations: &[evaluation::ActiveModel],
) -> Result<Vec<i64>> {
    if evaluations.is_empty() {
        return Ok(Vec::new());
    }
    let rows = evaluations.iter().cloned().map(|mut row| {
        row.llm_response_id = Set(response_id);
        row
    });
    Ok(Evaluation::insert_many(rows)
        .exec_with_returning_keys(conn)
        .await?)
}

/// PostgreSQL only: [`insert_checked`] and [`insert_evaluations`] in one statement, one round
/// trip (data-modifying CTEs, atomic on their own; the tracked path's fast case). `Ok(None)`
/// when the version changed (nothing inserted); else the response's id and its evaluations'
/// ids, in order.
pub async fn insert_checked_with_evaluations(
    conn: &impl ConnectionTrait,
    row: &ResponseRow,
    evaluations: &[evaluation::ActiveModel],
    version: &prompt_version::Model,
) -> Result<Option<(i64, Vec<i64>)>> {
    let statement = checked_with_evaluations(&row.0, evaluations, version)?;
    let Some(found) = conn.query_one(&statement).await? else {
        return Ok(None);
    };
    let id: i64 = found.try_get("", "id")?;
    let evaluation_ids = (0..evaluations.len())
        .map(|i| found.try_get::<i64>("", &format!("e{i}")))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(Some((id, evaluation_ids)))
}

/// `INSERT INTO llm_responses (<every column but id>) SELECT <values> WHERE EXISTS (SELECT 1
/// FROM prompt_versions WHERE id = <version> AND revision = <revision>) RETURNING id`: inserts
/// `response` only while the version is still at `revision`.
fn checked(
    response: &llm_response::Model,
    version: &prompt_version::Model,
) -> Result<InsertStatement> {
    let columns: Vec<_> = llm_response::Column::iter()
        .filter(|c| !matches!(c, llm_response::Column::Id))
        .collect();
    let values = columns
        .iter()
        .map(|c| c.save_as(Expr::val(response.get(*c))));
    let current = Query::select()
        .expr(Expr::val(1))
        .from(PromptVersion)
        .and_where(prompt_version::Column::Id.eq(version.id))
        .and_where(prompt_version::Column::Revision.eq(version.revision))
        .to_owned();
    let select = Query::select()
        .exprs(values)
        .and_where(Expr::exists(current))
        .to_owned();
    Ok(Query::insert()
        .into_table(LlmResponse)
        .columns(columns)
        .select_from(select)
        .map_err(|e| Error::Internal(e.to_string()))?
        .returning_col(llm_response::Column::Id)
        .to_owned())
}

/// The response and its evaluations in one PostgreSQL statement (data-modifying CTEs):
///
/// ```sql
/// WITH r AS (<checked> RETURNING id),
///      e0 AS (INSERT INTO evaluations (llm_response_id, ...) SELECT r.id, ... FROM r RETURNING id),
///      e1 AS (INSERT INTO evaluations (llm_response_id, ...) SELECT r.id, ... FROM r, e0 RETURNING id),
///      ...
/// SELECT r.id AS id, e0.id AS e0, e1.id AS e1 FROM r, e0, e1
/// ```
///
/// Each evaluation's insert reads the previous one's row, so their ids follow config order
/// (the order of the answer, and of `GET /llm-responses/{id}`, which sorts by id).
/// Every sub-statement runs once, in the statement's own (autocommit) transaction; when the
/// version is no longer at the cached revision `r` is empty, so are the `e`s, and no row comes
/// back (PostgreSQL docs, "Data-Modifying Statements in WITH").
fn checked_with_evaluations(
    response: &llm_response::Model,
    evaluations: &[evaluation::ActiveModel],
    version: &prompt_version::Model,
) -> Result<WithQuery> {
    let r = Alias::new("r");
    let mut with = WithClause::new();
    with.cte(
        CommonTableExpression::new()
            .query(checked(response, version)?)
            .table_name(r.clone())
            .to_owned(),
    );
    let mut select = Query::select();
    select
        .expr_as(
            Expr::col((r.clone(), llm_response::Column::Id)),
            Alias::new("id"),
        )
        .from(r.clone());
    for (i, row) in evaluations.iter().enumerate() {
        let name = Alias::new(format!("e{i}"));
        let mut columns = Vec::new();
        let mut values = Vec::new();
        for column in evaluation::Column::iter() {
            if matches!(column, evaluation::Column::LlmResponseId) {
                columns.push(column);
                values.push(Expr::col((r.clone(), llm_response::Column::Id)));
            } else if let ActiveValue::Set(v) | ActiveValue::Unchanged(v) = row.get(column) {
                columns.push(column);
                values.push(column.save_as(Expr::val(v)));
            }
        }
        let mut source = Query::select();
        source.exprs(values).from(r.clone());
        if i > 0 {
            // Reading the previous insert's row orders the inserts: ids follow config order.
            source.from(Alias::new(format!("e{}", i - 1)));
        }
        let insert = Query::insert()
            .into_table(Evaluation)
            .columns(columns)
            .select_from(source)
            .map_err(|e| Error::Internal(e.to_string()))?
            .returning_col(evaluation::Column::Id)
            .to_owned();
        with.cte(
            CommonTableExpression::new()
                .query(insert)
                .table_name(name.clone())
                .to_owned(),
        );
        select
            .expr_as(
                Expr::col((name.clone(), evaluation::Column::Id)),
                name.clone(),
            )
            .from(name);
    }
    Ok(with.query(select))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Timelike;
    use entity::evaluation::EvaluationContext;
    use sea_orm::sea_query::PostgresQueryBuilder;

    fn call(source: Source) -> LlmCall {
        LlmCall {
            source,
            prompt_version_id: 7,
            rendered_prompt: "Greet Ada.".to_owned(),
            rendered_system_prompt: Some("Be brief.".to_owned()),
            variables: Map::new(),
            response_text: Some("Hello Ada".to_owned()),
            status: ResponseStatus::Success,
            error_type: None,
            error_message: None,
            response_time_ms: Some(420),
            tokens_prompt: Some(1000),
            tokens_completion: Some(500),
            tokens_total: None,
            cost_usd: None,
            provider: "openai".to_owned(),
            api: Some("chat_completion".to_owned()),
            model: "gpt-4o".to_owned(),
            user_id: None,
            session_id: None,
            environment: None,
            context: Map::new(),
            response_metadata: Map::new(),
        }
    }

    fn row(call: LlmCall) -> llm_response::Model {
        normalise(call, &PriceTable::builtin())
            .expect("valid")
            .stored(0)
    }

    fn refused(call: LlmCall) -> Vec<String> {
        normalise(call, &PriceTable::builtin())
            .expect_err("refused")
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    fn usd(s: &str) -> Option<Decimal> {
        Some(s.parse().unwrap())
    }

    fn notes(m: &llm_response::Model) -> Vec<(String, Value)> {
        m.response_metadata["recording_notes"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|n| (n["field"].as_str().unwrap().to_owned(), n["value"].clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn max_cost_is_the_columns_largest_value() {
        assert_eq!(MAX_COST_USD.to_string(), "9999.999999");
    }

    #[test]
    fn tokens_total_is_derived_unless_given() {
        for source in [Source::TrackedCall, Source::TestRun] {
            assert_eq!(row(call(source)).tokens_total, Some(1500));
            let given = LlmCall {
                tokens_total: Some(1600),
                ..call(source)
            };
            assert_eq!(row(given).tokens_total, Some(1600));
            let one = LlmCall {
                tokens_completion: None,
                ..call(source)
            };
            assert_eq!(row(one).tokens_total, None);
            // A sum the column cannot hold is not derived (both counts fit on their own).
            let huge = LlmCall {
                tokens_prompt: Some(2_000_000_000),
                tokens_completion: Some(2_000_000_000),
                cost_usd: Some(1.0),
                ..call(source)
            };
            let huge = row(huge);
            assert_eq!(huge.tokens_prompt, Some(2_000_000_000));
            assert_eq!(huge.tokens_total, None);
        }
    }

    #[test]
    fn timestamps_are_whole_microseconds_for_every_source() {
        for source in [Source::TrackedCall, Source::TestRun] {
            let m = row(call(source));
            assert_eq!(m.created_at.nanosecond() % 1000, 0, "{:?}", m.created_at);
            assert_eq!(m.created_at, m.updated_at);
            assert_eq!(m.is_test_run, source == Source::TestRun);
        }
    }

    #[test]
    fn costs_are_rounded_to_six_places_away_from_zero() {
        for source in [Source::TrackedCall, Source::TestRun] {
            // gpt-4o: 1,000 × 2.50/M + 500 × 10.00/M.
            assert_eq!(row(call(source)).cost_usd, usd("0.0075"));
            for (reported, stored) in [
                (0.0000025, "0.000003"),
                (0.0000015, "0.000002"),
                (0.5, "0.5"),
                (9999.9999994, "9999.999999"),
                (0.0, "0"),
            ] {
                let c = LlmCall {
                    cost_usd: Some(reported),
                    ..call(source)
                };
                assert_eq!(row(c).cost_usd, usd(stored), "{reported}");
            }
            let unpriced = LlmCall {
                model: "my-finetune".to_owned(),
                ..call(source)
            };
            assert_eq!(row(unpriced).cost_usd, None);
        }
    }

    #[test]
    fn a_tracked_call_out_of_bounds_is_refused() {
        let t = || call(Source::TrackedCall);
        for reported in [-0.01, 10000.0, 9999.9999996, f64::NAN] {
            let c = LlmCall {
                cost_usd: Some(reported),
                ..t()
            };
            assert_eq!(refused(c), ["cost_usd"], "{reported}");
        }
        // 1.5e9 gpt-4o completion tokens cost 15,000 USD: the client is asked to check them.
        let computed = LlmCall {
            tokens_completion: Some(1_500_000_000),
            ..t()
        };
        let errors = normalise(computed, &PriceTable::builtin()).unwrap_err();
        assert_eq!(errors[0].field, "cost_usd");
        assert!(
            errors[0].message.contains("check tokens_prompt"),
            "{errors:?}"
        );
        let negative = LlmCall {
            tokens_prompt: Some(-1),
            response_time_ms: Some(-5),
            tokens_total: Some(3_000_000_000),
            cost_usd: Some(-2.0),
            ..t()
        };
        let mut fields = refused(negative);
        fields.sort();
        assert_eq!(
            fields,
            [
                "cost_usd",
                "response_time_ms",
                "tokens_prompt",
                "tokens_total"
            ]
        );
    }

    #[test]
    fn a_test_call_out_of_bounds_is_recorded_with_a_null_and_a_note() {
        let t = || call(Source::TestRun);
        // Computed over the bound: the answer is kept, the cost is null and noted.
        let computed = row(LlmCall {
            tokens_completion: Some(1_500_000_000),
            response_metadata: Map::from_iter([("response_id".to_owned(), json!("r-1"))]),
            ..t()
        });
        assert_eq!(computed.cost_usd, None);
        assert_eq!(computed.tokens_completion, Some(1_500_000_000));
        assert_eq!(computed.tokens_total, Some(1_500_001_000));
        assert_eq!(computed.response_text.as_deref(), Some("Hello Ada"));
        assert_eq!(computed.response_metadata["response_id"], "r-1");
        assert_eq!(
            notes(&computed),
            [("cost_usd".to_owned(), json!("15000.002500"))]
        );
        // 9999.9999996 rounds to 10000.000000: out of bounds too.
        let reported = row(LlmCall {
            cost_usd: Some(9999.9999996),
            ..t()
        });
        assert_eq!(reported.cost_usd, None);
        assert_eq!(notes(&reported)[0].0, "cost_usd");
        // A count that does not fit is dropped, and with it the computed cost (unknown, not
        // smaller).
        let counts = row(LlmCall {
            tokens_prompt: Some(3_000_000_000),
            response_time_ms: Some(-1),
            ..t()
        });
        assert_eq!(
            (counts.tokens_prompt, counts.tokens_total, counts.cost_usd),
            (None, None, None)
        );
        assert_eq!(counts.response_time_ms, None);
        assert_eq!(
            notes(&counts),
            [
                ("response_time_ms".to_owned(), json!(-1)),
                ("tokens_prompt".to_owned(), json!(3_000_000_000_i64)),
            ]
        );
        // Nothing to note: no `recording_notes` key.
        assert!(row(t()).response_metadata.get("recording_notes").is_none());
    }

    /// The tracked path's statements, byte for byte (the one-statement insert is benchmarked:
    /// `scripts/load-tracking.sh`).
    #[test]
    fn the_checked_inserts_keep_their_sql() {
        let t = chrono::NaiveDate::from_ymd_opt(2025, 1, 2)
            .unwrap()
            .and_hms_micro_opt(3, 4, 5, 678_901)
            .unwrap();
        let version = prompt_version::Model {
            id: 7,
            prompt_id: 3,
            user_prompt: "u".into(),
            system_prompt: None,
            version_number: 1,
            status: prompt_version::VersionStatus::Active,
            variables_schema: Default::default(),
            model_config: Default::default(),
            notes: None,
            created_by: None,
            created_at: t,
            updated_at: t,
            revision: 42,
        };
        let response = llm_response::Model {
            id: 0,
            prompt_version_id: 7,
            rendered_prompt: "Hi".into(),
            rendered_system_prompt: Some("S".into()),
            variables_used: json!({"name": "Ada"}),
            response_text: Some("Hello".into()),
            response_metadata: json!({}),
            status: ResponseStatus::Success,
            error_type: None,
            error_message: None,
            response_time_ms: Some(5),
            tokens_prompt: Some(1),
            tokens_completion: Some(2),
            tokens_total: Some(3),
            cost_usd: Some(Decimal::new(12, 6)),
            provider: "openai".into(),
            api: Some("chat_completion".into()),
            model: "gpt-4o".into(),
            user_id: None,
            session_id: Some("s".into()),
            environment: None,
            context: json!({}),
            is_test_run: false,
            created_at: t,
            updated_at: t,
        };
        let evaluation = |key: &str| evaluation::ActiveModel {
            llm_response_id: Set(0),
            prompt_version_id: Set(Some(7)),
            score: Set(Decimal::new(5000, 2)),
            score_min: Set(Decimal::ZERO),
            score_max: Set(Decimal::ONE_HUNDRED),
            evaluator_type: Set(key.into()),
            evaluator_id: Set(Some("9".into())),
            feedback: Set(Some("f".into())),
            metadata: Set(json!({})),
            passed: Set(Some(true)),
            evaluation_context: Set(EvaluationContext::TrackedCall),
            evaluator_config_id: Set(Some(9)),
            prompt_test_run_id: Set(None),
            created_at: Set(t),
            updated_at: Set(t),
            ..Default::default()
        };
        assert_eq!(
            checked(&response, &version)
                .unwrap()
                .to_string(PostgresQueryBuilder),
            r#"INSERT INTO "prompt_tracker_llm_responses" ("prompt_version_id", "rendered_prompt", "rendered_system_prompt", "variables_used", "response_text", "response_metadata", "status", "error_type", "error_message", "response_time_ms", "tokens_prompt", "tokens_completion", "tokens_total", "cost_usd", "provider", "model", "user_id", "session_id", "environment", "context", "created_at", "updated_at", "is_test_run", "api") SELECT 7, 'Hi', 'S', '{"name":"Ada"}', 'Hello', '{}', 'success', NULL, NULL, 5, 1, 2, 3, 0.000012, 'openai', 'gpt-4o', NULL, 's', NULL, '{}', '2025-01-02 03:04:05.678901', '2025-01-02 03:04:05.678901', FALSE, 'chat_completion' WHERE EXISTS(SELECT 1 FROM "prompt_tracker_prompt_versions" WHERE "prompt_tracker_prompt_versions"."id" = 7 AND "prompt_tracker_prompt_versions"."revision" = 42) RETURNING "id""#
        );
        let evaluations = [evaluation("keyword"), evaluation("length")];
        assert_eq!(
            checked_with_evaluations(&response, &evaluations, &version)
                .unwrap()
                .to_string(PostgresQueryBuilder),
            r#"WITH "r" AS (INSERT INTO "prompt_tracker_llm_responses" ("prompt_version_id", "rendered_prompt", "rendered_system_prompt", "variables_used", "response_text", "response_metadata", "status", "error_type", "error_message", "response_time_ms", "tokens_prompt", "tokens_completion", "tokens_total", "cost_usd", "provider", "model", "user_id", "session_id", "environment", "context", "created_at", "updated_at", "is_test_run", "api") SELECT 7, 'Hi', 'S', '{"name":"Ada"}', 'Hello', '{}', 'success', NULL, NULL, 5, 1, 2, 3, 0.000012, 'openai', 'gpt-4o', NULL, 's', NULL, '{}', '2025-01-02 03:04:05.678901', '2025-01-02 03:04:05.678901', FALSE, 'chat_completion' WHERE EXISTS(SELECT 1 FROM "prompt_tracker_prompt_versions" WHERE "prompt_tracker_prompt_versions"."id" = 7 AND "prompt_tracker_prompt_versions"."revision" = 42) RETURNING "id") , "e0" AS (INSERT INTO "prompt_tracker_evaluations" ("llm_response_id", "score", "score_min", "score_max", "evaluator_type", "evaluator_id", "feedback", "metadata", "passed", "created_at", "updated_at", "evaluation_context", "evaluator_config_id", "prompt_test_run_id", "prompt_version_id") SELECT "r"."id", 50.00, 0, 100, 'keyword', '9', 'f', '{}', TRUE, '2025-01-02 03:04:05.678901', '2025-01-02 03:04:05.678901', 'tracked_call', 9, NULL, 7 FROM "r" RETURNING "id") , "e1" AS (INSERT INTO "prompt_tracker_evaluations" ("llm_response_id", "score", "score_min", "score_max", "evaluator_type", "evaluator_id", "feedback", "metadata", "passed", "created_at", "updated_at", "evaluation_context", "evaluator_config_id", "prompt_test_run_id", "prompt_version_id") SELECT "r"."id", 50.00, 0, 100, 'length', '9', 'f', '{}', TRUE, '2025-01-02 03:04:05.678901', '2025-01-02 03:04:05.678901', 'tracked_call', 9, NULL, 7 FROM "r", "e0" RETURNING "id") SELECT "r"."id" AS "id", "e0"."id" AS "e0", "e1"."id" AS "e1" FROM "r", "e0", "e1""#
        );
    }
}
