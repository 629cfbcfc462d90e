//! Test databases and helpers shared by the test modules.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};

use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, FromQueryResult, JsonValue, Statement,
};

/// Runs each named `async fn NAME(db: TestDb)` on SQLite (`NAME::sqlite`) and PostgreSQL
/// (`NAME::postgres`).
#[macro_export]
macro_rules! db_tests {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::support::TestDb::sqlite().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = $crate::support::TestDb::postgres().await {
                    super::$name(db).await
                }
            }
        }
    )*};
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique_name(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// A database of its own for one test; removed when dropped.
pub struct TestDb {
    pub conn: DatabaseConnection,
    /// The database's URL, for a second connection or app instance.
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    None,
    File(std::path::PathBuf),
    Postgres { admin_url: String, name: String },
}

impl TestDb {
    /// Applies every migration through a pool of its own ([`api::migrate`]): `self.conn` never
    /// runs a migration, so it never reads a table with a stale definition.
    pub async fn migrate(&self) {
        api::migrate(&self.url).await.expect("migrate");
    }

    /// A fresh SQLite file in the temp directory.
    pub async fn sqlite() -> TestDb {
        let path = std::env::temp_dir().join(format!("{}.db", unique_name("pt_test")));
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let conn = api::connect(&url).await.expect("open SQLite test database");
        TestDb {
            conn,
            url,
            cleanup: Cleanup::File(path),
        }
    }

    /// A fresh database on the `TEST_DATABASE_URL` server, or `None` (skip) when unset.
    ///
    /// # Panics
    /// When the server is unreachable, or when `PROMPT_TRACKER_REQUIRE_POSTGRES=1` and
    /// `TEST_DATABASE_URL` is unset: CI must never skip the PostgreSQL half silently.
    pub async fn postgres() -> Option<TestDb> {
        let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
            assert!(
                std::env::var("PROMPT_TRACKER_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "PROMPT_TRACKER_REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is not set"
            );
            eprintln!("TEST_DATABASE_URL not set: PostgreSQL half skipped");
            return None;
        };
        let name = unique_name("pt_test");
        let admin = api::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("TEST_DATABASE_URL={admin_url} is unreachable: {e}"));
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create PostgreSQL test database");
        admin.close().await.ok();
        let (base, _) = admin_url
            .split('?')
            .next()
            .unwrap_or(&admin_url)
            .rsplit_once('/')
            .expect("URL with a database path");
        let url = format!("{base}/{name}");
        let conn = api::connect(&url)
            .await
            .expect("connect to PostgreSQL test database");
        Some(TestDb {
            conn,
            url,
            cleanup: Cleanup::Postgres { admin_url, name },
        })
    }

    /// A second handle (its own connection pool) on the same database, as a second service
    /// instance would have; it does not remove the database when dropped.
    pub async fn connect_same(db: &TestDb) -> TestDb {
        let conn = api::connect(&db.url).await.expect("second connection");
        TestDb {
            conn,
            url: db.url.clone(),
            cleanup: Cleanup::None,
        }
    }

    pub fn backend(&self) -> DatabaseBackend {
        self.conn.get_database_backend()
    }

    pub fn is_postgres(&self) -> bool {
        self.backend() == DatabaseBackend::Postgres
    }

    /// Runs SQL without parameters.
    pub async fn exec(&self, sql: &str) {
        self.conn
            .execute_unprepared(sql)
            .await
            .unwrap_or_else(|e| panic!("{e}\nSQL: {sql}"));
    }

    /// Rows of a query as JSON objects. Columns SeaORM cannot type from SQLite's declared
    /// types (expressions such as `COUNT(*)`) are read by their runtime value instead.
    pub async fn rows(&self, sql: &str) -> Vec<JsonValue> {
        let stmt = Statement::from_string(self.backend(), sql.to_owned());
        let results = self
            .conn
            .query_all_raw(stmt)
            .await
            .unwrap_or_else(|e| panic!("{e}\nSQL: {sql}"));
        let mut out = Vec::new();
        for row in results {
            let mut value = JsonValue::from_query_result(&row, "")
                .unwrap_or_else(|e| panic!("{e}\nSQL: {sql}"));
            let map = value.as_object_mut().expect("row object");
            for (i, name) in row.column_names().into_iter().enumerate() {
                if map.contains_key(&name) {
                    continue;
                }
                let v = if let Ok(Some(n)) = row.try_get_by_index::<Option<i64>>(i) {
                    JsonValue::from(n)
                } else if let Ok(Some(f)) = row.try_get_by_index::<Option<f64>>(i) {
                    JsonValue::from(f)
                } else if let Ok(Some(s)) = row.try_get_by_index::<Option<String>>(i) {
                    JsonValue::from(s)
                } else {
                    JsonValue::Null
                };
                map.insert(name, v);
            }
            out.push(value);
        }
        out
    }

    /// The single value of a one-row, one-column query (as JSON).
    pub async fn value(&self, sql: &str) -> JsonValue {
        let rows = self.rows(sql).await;
        assert_eq!(rows.len(), 1, "expected one row from {sql}, got {rows:?}");
        let obj = rows[0].as_object().expect("row object");
        assert_eq!(obj.len(), 1, "expected one column from {sql}");
        obj.values().next().cloned().unwrap_or(JsonValue::Null)
    }

    /// An integer result such as `COUNT(*)`.
    pub async fn count(&self, sql: &str) -> i64 {
        let v = self.value(sql).await;
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .unwrap_or_else(|| panic!("{sql} gave {v}"))
    }

    /// A JSON column's value as JSON (PostgreSQL returns jsonb as JSON, SQLite as text).
    pub async fn json(&self, sql: &str) -> JsonValue {
        match self.value(sql).await {
            JsonValue::String(s) if !self.is_postgres() => {
                serde_json::from_str(&s).unwrap_or(JsonValue::String(s))
            }
            v => v,
        }
    }

    /// Names of the user tables.
    pub async fn tables(&self) -> Vec<String> {
        let sql = if self.is_postgres() {
            "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1"
        } else {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY 1"
        };
        self.rows(sql)
            .await
            .iter()
            .map(|r| r["name"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Names of the indexes of the user tables.
    pub async fn indexes(&self) -> Vec<String> {
        let sql = if self.is_postgres() {
            "SELECT indexname AS name FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1"
        } else {
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY 1"
        };
        self.rows(sql)
            .await
            .iter()
            .map(|r| r["name"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Column names of a table, in order.
    pub async fn columns(&self, table: &str) -> Vec<String> {
        let sql = if self.is_postgres() {
            format!(
                "SELECT column_name::text AS name FROM information_schema.columns WHERE table_name = '{table}' ORDER BY ordinal_position"
            )
        } else {
            format!("SELECT name FROM pragma_table_info('{table}') ORDER BY cid")
        };
        self.rows(&sql)
            .await
            .iter()
            .map(|r| r["name"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Every row of every table but the migrator's own, ordered by id: the whole data set.
    pub async fn dump(&self) -> BTreeMap<String, Vec<JsonValue>> {
        let mut out = BTreeMap::new();
        for table in self.tables().await {
            if table == "seaql_migrations" {
                continue;
            }
            // Named columns, not `*` (a cached `SELECT *` goes stale when a migration alters the table),
            // each with `AS`: without it SQLite leaves the result column's name unspecified.
            let columns = self
                .columns(&table)
                .await
                .iter()
                .map(|c| format!("\"{c}\" AS \"{c}\""))
                .collect::<Vec<_>>()
                .join(", ");
            let rows = self
                .rows(&format!("SELECT {columns} FROM {table} ORDER BY id"))
                .await;
            out.insert(table, rows);
        }
        out
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::None => {}
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Cleanup::Postgres { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside the test's runtime: use a thread with a runtime of its own.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .ok()?;
                    rt.block_on(async {
                        let admin = api::connect(&admin_url).await.ok()?;
                        admin
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .await
                            .ok()?;
                        admin.close().await.ok()
                    })
                })
                .join();
            }
        }
    }
}

/// A running app over a test database, and an HTTP client for it.
pub struct App {
    pub base: String,
    pub client: reqwest::Client,
    pub token: Option<String>,
    pub workers: std::sync::Mutex<Option<api::jobs::Workers>>,
    pub server: tokio::task::JoinHandle<()>,
}

impl Drop for App {
    /// Stops the workers and the server with the test, before its database goes away.
    fn drop(&mut self) {
        self.crash();
    }
}

impl App {
    /// Kills the app as a crash would: its workers abandon their jobs mid-way, it stops serving.
    pub fn crash(&self) {
        if let Some(w) = self.workers.lock().expect("lock").take() {
            w.abort();
        }
        self.server.abort();
    }
}

/// What a request answered: status, content type and JSON body (`null` when empty).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: JsonValue,
}

impl App {
    /// Sends `method path` with an optional JSON body (and the app's token, if any).
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&JsonValue>,
    ) -> Answer {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = res.text().await.expect("body");
        let body = if text.is_empty() {
            JsonValue::Null
        } else {
            serde_json::from_str(&text).unwrap_or(JsonValue::String(text))
        };
        Answer {
            status,
            content_type,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: JsonValue) -> Answer {
        self.send(reqwest::Method::POST, path, Some(&body)).await
    }

    pub async fn patch(&self, path: &str, body: JsonValue) -> Answer {
        self.send(reqwest::Method::PATCH, path, Some(&body)).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.send(reqwest::Method::DELETE, path, None).await
    }

    /// POSTs and asserts `201`, returning the body.
    pub async fn create(&self, path: &str, body: JsonValue) -> JsonValue {
        let a = self.post(path, body).await;
        assert_eq!(a.status, 201, "POST {path}: {:?}", a.body);
        a.body
    }
}

impl Answer {
    /// Asserts a problem+json answer of `status`; returns the `errors[].field` list.
    pub fn problem(&self, status: u16) -> Vec<String> {
        assert_eq!(self.status, status, "{:?}", self.body);
        assert_eq!(
            self.content_type, "application/problem+json",
            "{:?}",
            self.body
        );
        assert_eq!(self.body["status"], status, "{:?}", self.body);
        assert!(
            self.body["title"].is_string() && self.body["type"].is_string(),
            "{:?}",
            self.body
        );
        self.body["errors"]
            .as_array()
            .map(|e| {
                e.iter()
                    .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// How to start an app in a test.
pub struct AppOptions {
    pub token: Option<String>,
    /// Provider endpoints (wiremock) and credentials; none configured by default.
    pub providers: api::providers::ProviderSettings,
    /// Job workers (0: none, jobs stay queued).
    pub workers: usize,
    /// Lease of a claimed job.
    pub lease: std::time::Duration,
    /// Counts every statement the app sends through its connection pool (SeaORM's metric
    /// callback; the `LISTEN` of its notification listener is not counted).
    pub statements: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
    /// How often `?wait=true` requests re-check their batch without a wake-up (default: the
    /// service's, 1 s).
    pub wait_fallback_poll: Option<std::time::Duration>,
}

impl Default for AppOptions {
    fn default() -> Self {
        AppOptions {
            token: None,
            providers: test_providers(None, None, None),
            workers: 2,
            lease: std::time::Duration::from_secs(30),
            statements: None,
            wait_fallback_poll: None,
        }
    }
}

/// Provider settings for tests: every provider at `base` (a wiremock URI) with a test key, or
/// unreachable without a key; fast retries and short timeouts.
pub fn test_providers(
    openai: Option<&str>,
    anthropic: Option<&str>,
    gemini: Option<&str>,
) -> api::providers::ProviderSettings {
    use api::providers::{Endpoint, ProviderSettings};
    let endpoint = |base: Option<&str>, suffix: &str, env: &'static str| Endpoint {
        base_url: base
            .map(|b| format!("{b}{suffix}"))
            .unwrap_or_else(|| "http://127.0.0.1:9".to_owned()),
        api_key: base.map(|_| format!("test-key-{env}")),
        key_env: env,
    };
    ProviderSettings {
        openai: endpoint(openai, "/v1", "OPENAI_API_KEY"),
        anthropic: endpoint(anthropic, "", "ANTHROPIC_API_KEY"),
        gemini: endpoint(gemini, "", "GEMINI_API_KEY"),
        timeout: std::time::Duration::from_millis(1500),
        max_retries: 2,
        backoff_base: std::time::Duration::from_millis(5),
        max_backoff: std::time::Duration::from_millis(50),
        concurrency_per_provider: 8,
    }
}

/// Migrates `db` and starts the real app on 127.0.0.1:0 (with `token` as the API token).
pub async fn spawn_app(db: &TestDb, token: Option<&str>) -> App {
    spawn_app_with(
        db,
        AppOptions {
            token: token.map(str::to_owned),
            ..Default::default()
        },
    )
    .await
}

/// Migrates `db` and starts the real app (and its job workers) on 127.0.0.1:0.
pub async fn spawn_app_with(db: &TestDb, opts: AppOptions) -> App {
    // The app's logs (errors behind a 500 included) go to the test's captured output.
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("warn,api=info")
        .try_init();
    db.migrate().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let config = api::Config {
        database_url: db.url.clone(),
        bind: addr,
        api_token: opts.token.clone(),
        prices_file: None,
        providers: opts.providers,
        jobs: api::jobs::JobSettings {
            workers: opts.workers,
            lease: opts.lease,
            poll_interval: std::time::Duration::from_millis(50),
        },
        list_cache_bytes: api::store::row_cache::DEFAULT_CAPACITY_MB << 20,
    };
    let mut conn = db.conn.clone();
    if let Some(counter) = opts.statements {
        conn.set_metric_callback(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
        });
    }
    let mut state = api::AppState::new(conn.clone(), &config).expect("state");
    if let Some(every) = opts.wait_fallback_poll {
        state.batch_events =
            api::testing::batch_events::BatchEvents::with_fallback_poll(conn, every);
    }
    let workers = state.start_workers();
    let server = tokio::spawn(async move {
        let _ = api::serve(listener, state).await;
    });
    App {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        token: opts.token,
        workers: std::sync::Mutex::new(Some(workers)),
        server,
    }
}
