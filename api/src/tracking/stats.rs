//! Version analytics, computed in SQL on both backends: call count, success rate, latency
//! p50/p95, tokens, total cost, and per-evaluator pass rate and mean score, split by
//! `is_test_run` (tracked calls vs test calls), over an optional time window.
//!
//! Percentiles use the nearest-rank method (the value at rank ceil(p * n) of the n calls
//! with a latency, ordered ascending), with window functions, so both backends agree.

use crate::store::sql::placeholder;
use chrono::{DateTime, NaiveDateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement, Value as DbValue};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{Error, Result};
use crate::prompts::versions;

/// `?since=&until=` (RFC 3339): created at or after `since`, before `until`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsWindow {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// Per-evaluator results within a group.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EvaluatorStats {
    pub evaluator_key: String,
    /// All evaluations, those in error (an evaluator config that could not run) included.
    pub evaluations: i64,
    /// Passed / evaluations with a verdict, 0-1; null when none has one.
    pub pass_rate: Option<f64>,
    /// Mean score, 0-100, of the evaluations not in error; null when there is none.
    pub mean_score: Option<f64>,
}

/// Statistics of one group of calls.
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct GroupStats {
    pub calls: i64,
    /// Calls with status `success` / calls, 0-1; null without calls.
    pub success_rate: Option<f64>,
    /// Median latency, ms (nearest rank).
    pub latency_ms_p50: Option<i64>,
    /// 95th percentile latency, ms (nearest rank).
    pub latency_ms_p95: Option<i64>,
    pub tokens_prompt: i64,
    pub tokens_completion: i64,
    pub tokens_total: i64,
    /// Sum of known costs, USD.
    pub cost_usd: f64,
    pub evaluators: Vec<EvaluatorStats>,
}

/// `GET /api/v1/versions/{version_id}/stats`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct VersionStats {
    pub version_id: i64,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Calls recorded by client apps (`is_test_run = false`).
    pub tracked_calls: GroupStats,
    /// Calls made by prompt test runs (`is_test_run = true`).
    pub test_calls: GroupStats,
}

/// Statistics of a version. 404 without the version; 422 when `since` is not before `until`.
pub async fn of_version(
    db: &DatabaseConnection,
    version_id: i64,
    window: &StatsWindow,
) -> Result<VersionStats> {
    versions::find(db, version_id).await?;
    if let (Some(s), Some(u)) = (window.since, window.until)
        && s >= u
    {
        return Err(Error::invalid("since", "must be before until"));
    }
    let backend = db.get_database_backend();
    let p = |i| placeholder(backend, i);
    // Bounds every backend can store (PostgreSQL timestamps start at 4713 BC).
    let far_past = chrono::NaiveDate::from_ymd_opt(1, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap_or_default();
    let far_future = chrono::NaiveDate::from_ymd_opt(9999, 12, 31)
        .and_then(|d| d.and_hms_opt(23, 59, 59))
        .unwrap_or_default();
    let since: NaiveDateTime = window.since.map_or(far_past, |s| s.naive_utc());
    let until: NaiveDateTime = window.until.map_or(far_future, |u| u.naive_utc());
    let values: Vec<DbValue> = vec![version_id.into(), since.into(), until.into()];
    let scope = format!(
        "lr.prompt_version_id = {} AND lr.created_at >= {} AND lr.created_at < {}",
        p(1),
        p(2),
        p(3)
    );
    let truth = if backend == DatabaseBackend::Postgres {
        "TRUE"
    } else {
        "1"
    };

    let totals = format!(
        "SELECT lr.is_test_run AS t, COUNT(*) AS calls, \
           SUM(CASE WHEN lr.status = 'success' THEN 1 ELSE 0 END) AS ok, \
           COALESCE(SUM(lr.tokens_prompt), 0) AS tp, COALESCE(SUM(lr.tokens_completion), 0) AS tc, \
           COALESCE(SUM(lr.tokens_total), 0) AS tt, CAST(COALESCE(SUM(lr.cost_usd), 0) AS DOUBLE PRECISION) AS cost \
         FROM prompt_tracker_llm_responses lr WHERE {scope} GROUP BY lr.is_test_run"
    );
    let latency = format!(
        "SELECT t, MAX(CASE WHEN rn = (50 * n + 99) / 100 THEN ms END) AS p50, \
                   MAX(CASE WHEN rn = (95 * n + 99) / 100 THEN ms END) AS p95 \
         FROM (SELECT lr.is_test_run AS t, lr.response_time_ms AS ms, \
                 ROW_NUMBER() OVER (PARTITION BY lr.is_test_run ORDER BY lr.response_time_ms) AS rn, \
                 COUNT(*) OVER (PARTITION BY lr.is_test_run) AS n \
               FROM prompt_tracker_llm_responses lr WHERE {scope} AND lr.response_time_ms IS NOT NULL) ranked \
         GROUP BY t"
    );
    let per_evaluator = format!(
        "SELECT lr.is_test_run AS t, e.evaluator_type AS k, COUNT(*) AS n, \
           SUM(CASE WHEN e.passed = {truth} THEN 1 ELSE 0 END) AS passed, \
           SUM(CASE WHEN e.passed IS NOT NULL THEN 1 ELSE 0 END) AS judged, \
           CAST(AVG(CASE WHEN e.passed IS NULL AND e.evaluator_config_id IS NOT NULL THEN NULL ELSE e.score END) AS DOUBLE PRECISION) AS mean \
         FROM prompt_tracker_evaluations e JOIN prompt_tracker_llm_responses lr ON lr.id = e.llm_response_id \
         WHERE {scope} GROUP BY lr.is_test_run, e.evaluator_type ORDER BY e.evaluator_type"
    );
    let run = |sql: String| {
        let stmt = Statement::from_sql_and_values(backend, sql, values.clone());
        async move { db.query_all_raw(stmt).await }
    };
    let mut groups = [GroupStats::default(), GroupStats::default()];
    let index = |row: &sea_orm::QueryResult| -> Result<usize> {
        Ok(usize::from(row.try_get::<bool>("", "t")?))
    };
    for row in run(totals).await? {
        let g = &mut groups[index(&row)?];
        g.calls = row.try_get("", "calls")?;
        let ok: i64 = row.try_get("", "ok")?;
        g.success_rate = (g.calls > 0).then(|| ok as f64 / g.calls as f64);
        g.tokens_prompt = row.try_get("", "tp")?;
        g.tokens_completion = row.try_get("", "tc")?;
        g.tokens_total = row.try_get("", "tt")?;
        g.cost_usd = row.try_get::<f64>("", "cost")?;
    }
    for row in run(latency).await? {
        let g = &mut groups[index(&row)?];
        g.latency_ms_p50 = row.try_get::<Option<i32>>("", "p50")?.map(i64::from);
        g.latency_ms_p95 = row.try_get::<Option<i32>>("", "p95")?.map(i64::from);
    }
    for row in run(per_evaluator).await? {
        let g = &mut groups[index(&row)?];
        let judged: i64 = row.try_get("", "judged")?;
        let passed: i64 = row.try_get("", "passed")?;
        g.evaluators.push(EvaluatorStats {
            evaluator_key: row.try_get("", "k")?,
            evaluations: row.try_get("", "n")?,
            pass_rate: (judged > 0).then(|| passed as f64 / judged as f64),
            mean_score: row.try_get::<Option<f64>>("", "mean")?,
        });
    }
    let [tracked_calls, test_calls] = groups;
    Ok(VersionStats {
        version_id,
        since: window.since,
        until: window.until,
        tracked_calls,
        test_calls,
    })
}
