//! Importer for the openai/evals sample format: one JSON object per line,
//! `{"input": <chat messages or a string>, "ideal": <string or list of strings>}`.
//!
//! It creates a prompt, an active version whose system prompt and user template come from
//! the samples (`{{ input }}` is each sample's user message; a system message shared by every
//! sample becomes the version's system prompt, differing ones become a `{{ system }}`
//! variable), a dataset of the samples (`input`, `ideal`, `system`), and a test whose
//! `evals_match` evaluator checks `ideal` the way the eval does (`starts_with` = openai/evals
//! `Match`, `includes` = `Includes`, or `exact`).
//!
//! Whatever the format allows but this mapping cannot express is reported, never dropped
//! silently: samples with few-shot turns, named messages, assistant turns or several user
//! messages are skipped and listed with their line numbers and reason; keys other than
//! `input` and `ideal` are listed; an ideal that is not a string or list of strings skips the
//! sample. When the model config sets no temperature it is set to 0, as openai/evals' `Match`
//! samples with temperature 0.

use chrono::Utc;
use entity::VariableDefinition;
use entity::dataset_row::{self, RowSource};
use entity::prelude::*;
use sea_orm::{DatabaseConnection, EntityTrait, Set};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::evaluation::configs::{self, NewEvaluatorConfig, Owner};
use crate::prompts::versions::{self, NewVersion};
use crate::prompts::{self, NewPrompt};
use crate::testing::prompt_tests::{self, NewPromptTest};
use crate::{testing::datasets, validation::FieldError};

/// How `ideal` is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchMode {
    StartsWith,
    Includes,
    Exact,
}

impl MatchMode {
    /// The `evals_match` config value.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchMode::StartsWith => "starts_with",
            MatchMode::Includes => "includes",
            MatchMode::Exact => "exact",
        }
    }
}

/// What to import and how.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// Name of the prompt to create (must not exist yet).
    pub prompt: String,
    /// The version's model config (either form).
    pub model_config: Value,
    pub mode: MatchMode,
    /// Names the dataset (e.g. the file's stem).
    pub dataset_name: String,
}

/// A sample the importer could not map.
#[derive(Clone, Debug, Serialize)]
pub struct Skipped {
    pub line: usize,
    pub reason: String,
}

/// What an import created and what it could not map.
#[derive(Clone, Debug, Serialize)]
pub struct EvalsReport {
    pub prompt_id: i64,
    pub version_id: i64,
    pub dataset_id: i64,
    pub test_id: i64,
    pub samples: usize,
    pub imported: usize,
    pub skipped: Vec<Skipped>,
    /// Keys other than `input`/`ideal`, with the lines that had them.
    pub unmapped_keys: Vec<(String, Vec<usize>)>,
    /// Notes on choices made (system prompt mapping, temperature).
    pub notes: Vec<String>,
}

struct Sample {
    line: usize,
    system: Option<String>,
    user: String,
    ideal: Value,
}

fn map_sample(
    line: usize,
    value: &Value,
    unmapped: &mut Vec<(String, Vec<usize>)>,
) -> std::result::Result<Sample, String> {
    let Some(obj) = value.as_object() else {
        return Err("not a JSON object".to_owned());
    };
    for key in obj.keys().filter(|k| *k != "input" && *k != "ideal") {
        match unmapped.iter_mut().find(|(k, _)| k == key) {
            Some((_, lines)) => lines.push(line),
            None => unmapped.push((key.clone(), vec![line])),
        }
    }
    let ideal = match obj.get("ideal") {
        Some(Value::String(s)) => Value::String(s.clone()),
        Some(Value::Array(a)) if !a.is_empty() && a.iter().all(Value::is_string) => {
            Value::Array(a.clone())
        }
        Some(_) => return Err("`ideal` is not a string or a non-empty list of strings".to_owned()),
        None => return Err("no `ideal`".to_owned()),
    };
    let (system, user) = match obj.get("input") {
        Some(Value::String(s)) => (None, s.clone()),
        Some(Value::Array(messages)) => {
            let mut system = None;
            let mut user = None;
            for (i, m) in messages.iter().enumerate() {
                let role = m.get("role").and_then(Value::as_str).unwrap_or("");
                let content = m.get("content").and_then(Value::as_str);
                if m.get("name").is_some() {
                    return Err(format!(
                        "message {i} is named ({:?}): few-shot examples cannot map to one template",
                        m["name"]
                    ));
                }
                let Some(content) = content else {
                    return Err(format!("message {i} has no text content"));
                };
                match (role, &user) {
                    ("system", None) if system.is_none() => system = Some(content.to_owned()),
                    ("user", None) => user = Some(content.to_owned()),
                    _ => {
                        return Err(format!(
                            "message {i} ({role}) makes a multi-turn conversation, which cannot map to one system + user template"
                        ));
                    }
                }
            }
            (system, user.ok_or("no user message")?)
        }
        Some(_) => return Err("`input` is neither chat messages nor a string".to_owned()),
        None => return Err("no `input`".to_owned()),
    };
    Ok(Sample {
        line,
        system,
        user,
        ideal,
    })
}

fn var(name: &str, required: bool, description: &str) -> VariableDefinition {
    VariableDefinition {
        name: name.to_owned(),
        kind: if name == "ideal" {
            "any".to_owned()
        } else {
            "string".to_owned()
        },
        required,
        description: Some(description.to_owned()),
        default: None,
        extra: Map::new(),
    }
}

/// Imports the samples of `jsonl` (the file's text). Nothing is created when no sample maps.
pub async fn import(
    db: &DatabaseConnection,
    jsonl: &str,
    opts: ImportOptions,
) -> Result<EvalsReport> {
    let mut skipped = Vec::new();
    let mut unmapped = Vec::new();
    let mut samples = Vec::new();
    let mut total = 0;
    for (i, text) in jsonl.lines().enumerate() {
        if text.trim().is_empty() {
            continue;
        }
        total += 1;
        let line = i + 1;
        match serde_json::from_str::<Value>(text)
            .map_err(|e| format!("not valid JSON: {e}"))
            .and_then(|v| map_sample(line, &v, &mut unmapped))
        {
            Ok(s) => samples.push(s),
            Err(reason) => skipped.push(Skipped { line, reason }),
        }
    }
    if samples.is_empty() {
        return Err(Error::invalid(
            "file",
            format!(
                "no sample could be imported ({total} lines, {} skipped)",
                skipped.len()
            ),
        ));
    }
    let mut notes = Vec::new();
    let first_system = samples[0].system.clone();
    let shared_system = samples.iter().all(|s| s.system == first_system);
    let (system_prompt, system_var) = if shared_system {
        if first_system.is_some() {
            notes.push(
                "every sample has the same system message: it is the version's system prompt"
                    .to_owned(),
            );
        }
        (first_system.map(|s| escape(&s)), false)
    } else {
        notes.push("samples have different system messages: the system prompt is the `{{ system }}` variable".to_owned());
        (Some("{{ system }}".to_owned()), true)
    };
    let mut schema = vec![
        var(
            "input",
            true,
            "the sample's user message (openai/evals `input`)",
        ),
        var("ideal", false, "the ideal answer(s) (openai/evals `ideal`)"),
    ];
    if system_var {
        schema.push(var("system", false, "the sample's system message"));
    }
    let mut model_config = opts.model_config.clone();
    if model_config.get("temperature").is_none()
        && let Some(obj) = model_config.as_object_mut()
    {
        obj.insert("temperature".to_owned(), json!(0));
        notes.push("temperature set to 0 (openai/evals samples Match at temperature 0)".to_owned());
    }

    let prompt = prompts::create(
        db,
        NewPrompt {
            name: opts.prompt.clone(),
            slug: None,
            description: Some(format!(
                "Imported from openai/evals samples ({})",
                opts.dataset_name
            )),
            category: Some("openai-evals".to_owned()),
            tags: vec!["openai-evals".to_owned()],
            created_by: Some("prompt-tracker import-evals".to_owned()),
        },
    )
    .await?;
    let version = versions::create(
        db,
        prompt.id,
        NewVersion {
            user_prompt: "{{ input }}".to_owned(),
            system_prompt,
            variables_schema: Some(schema),
            model_config: Some(model_config),
            notes: Some(format!("openai/evals import, {} mode", opts.mode.as_str())),
            created_by: Some("prompt-tracker import-evals".to_owned()),
        },
    )
    .await?;
    versions::activate(db, version.id).await?;
    let dataset = datasets::create(
        db,
        version.id,
        datasets::NewDataset {
            name: opts.dataset_name.clone(),
            description: Some("openai/evals samples".to_owned()),
            metadata: Map::new(),
        },
    )
    .await?;
    let version_model = versions::find(db, version.id).await?;
    let now = Utc::now().naive_utc();
    let mut rows = Vec::new();
    for s in &samples {
        let mut row = Map::new();
        row.insert("input".to_owned(), Value::String(s.user.clone()));
        row.insert("ideal".to_owned(), s.ideal.clone());
        if system_var {
            row.insert(
                "system".to_owned(),
                s.system.clone().map(Value::String).unwrap_or(Value::Null),
            );
        }
        let errors: Vec<FieldError> = datasets::check_row(&version_model.variables_schema, &row);
        if !errors.is_empty() {
            return Err(Error::Internal(format!("line {}: {errors:?}", s.line)));
        }
        rows.push(dataset_row::ActiveModel {
            dataset_id: Set(dataset.id),
            row_data: Set(Value::Object(row)),
            source: Set(RowSource::Imported),
            line_number: Set(i32::try_from(s.line).ok()),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        });
    }
    for chunk in rows.chunks(1000) {
        DatasetRow::insert_many(chunk.to_vec()).exec(db).await?;
    }
    let test = prompt_tests::create(
        db,
        version.id,
        NewPromptTest {
            name: format!(
                "openai-evals {} ({})",
                opts.dataset_name,
                opts.mode.as_str()
            ),
            description: Some("Checks `ideal` as openai/evals does".to_owned()),
            template_variables: Map::new(),
            expected_output: None,
            expected_patterns: Vec::new(),
            model_config: None,
            enabled: Some(true),
            pass_threshold: None,
            tags: vec!["openai-evals".to_owned()],
            metadata: Map::new(),
        },
    )
    .await?;
    configs::create(
        db,
        Owner::Test(test.id),
        NewEvaluatorConfig {
            evaluator_key: "evals_match".to_owned(),
            config: Some(json!({"mode": opts.mode.as_str()})),
            threshold: None,
            weight: None,
            priority: None,
            run_mode: None,
            enabled: None,
            depends_on: None,
            min_dependency_score: None,
        },
    )
    .await?;
    Ok(EvalsReport {
        prompt_id: prompt.id,
        version_id: version.id,
        dataset_id: dataset.id,
        test_id: test.id,
        samples: total,
        imported: samples.len(),
        skipped,
        unmapped_keys: unmapped,
        notes,
    })
}

/// Braces of a literal system message must not be read as template syntax.
fn escape(text: &str) -> String {
    if text.contains("{{") || text.contains("{%") || text.contains("{#") {
        format!("{{% raw %}}{text}{{% endraw %}}")
    } else {
        text.to_owned()
    }
}
