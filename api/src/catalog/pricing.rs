//! Cost of an LLM call in USD, from per-million-token list prices.
//!
//! The built-in table is `api/data/prices.json` (embedded at compile time; its `source` and
//! `as_of` say where and when the prices were taken). An operator applies their own prices
//! (negotiated rates, new models) with [`PriceTable::with_overrides`], which takes a JSON
//! document of the same shape (the service reads it from `PROMPT_TRACKER_PRICES_FILE`):
//!
//! ```json
//! { "source": "...", "as_of": "YYYY-MM-DD",
//!   "models": { "openai": { "gpt-4o": { "input_per_million_usd": "2.50",
//!                                        "output_per_million_usd": "10.00" } } } }
//! ```
//!
//! Prices are USD per 1,000,000 tokens, written as decimal strings (JSON numbers are accepted
//! too, read exactly as written). An optional `long_context`
//! `{ "above_input_tokens", "input_per_million_usd", "output_per_million_usd" }` gives the rates
//! for calls whose prompt exceeds `above_input_tokens` (Gemini 2.5 Pro, Claude Sonnet 4).
//! All arithmetic is [`Decimal`]; costs are rounded to 6 decimal places, the scale of the
//! `cost_usd decimal(10,6)` column.

use std::collections::BTreeMap;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

const BUILTIN: &str = include_str!("../../data/prices.json");

/// Rates for calls whose prompt is longer than `above_input_tokens` tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LongContextPrice {
    /// Prompt size (tokens) above which these rates apply to the whole call.
    pub above_input_tokens: u64,
    /// USD per 1,000,000 prompt tokens.
    #[serde(deserialize_with = "usd")]
    pub input_per_million_usd: Decimal,
    /// USD per 1,000,000 completion tokens.
    #[serde(deserialize_with = "usd")]
    pub output_per_million_usd: Decimal,
}

/// List price of one model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// USD per 1,000,000 prompt (input) tokens.
    #[serde(deserialize_with = "usd")]
    pub input_per_million_usd: Decimal,
    /// USD per 1,000,000 completion (output) tokens, reasoning tokens included.
    #[serde(deserialize_with = "usd")]
    pub output_per_million_usd: Decimal,
    /// Higher rates for long prompts, if the provider has them.
    #[serde(default)]
    pub long_context: Option<LongContextPrice>,
}

impl Price {
    /// (input, output) USD per million tokens for a call with `tokens_prompt` prompt tokens.
    pub fn rates_for(&self, tokens_prompt: u64) -> (Decimal, Decimal) {
        match self.long_context {
            Some(lc) if tokens_prompt > lc.above_input_tokens => {
                (lc.input_per_million_usd, lc.output_per_million_usd)
            }
            _ => (self.input_per_million_usd, self.output_per_million_usd),
        }
    }
}

/// A price in USD: a decimal string or a JSON number, read exactly as written, never negative.
fn usd<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
    use serde::de::Error;
    let text = match Value::deserialize(deserializer)? {
        Value::String(s) => s,
        Value::Number(n) => n.to_string(),
        other => {
            return Err(D::Error::custom(format!(
                "expected a USD amount, got {other}"
            )));
        }
    };
    let amount = Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map_err(|_| D::Error::custom(format!("\"{text}\" is not a decimal USD amount")))?;
    if amount.is_sign_negative() && !amount.is_zero() {
        return Err(D::Error::custom(format!("price {text} is negative")));
    }
    Ok(amount)
}

/// The JSON document: `models` maps provider key -> model id -> price.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceFile {
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    as_of: Option<String>,
    #[serde(default)]
    currency: Option<String>,
    /// Informational (`"USD per 1,000,000 tokens"`).
    #[serde(default, rename = "unit")]
    _unit: Option<String>,
    /// Informational notes for people reading the file.
    #[serde(default, rename = "notes")]
    _notes: Option<Vec<String>>,
    models: BTreeMap<String, BTreeMap<String, Price>>,
}

impl PriceFile {
    fn parse(json: &str) -> Result<Self, String> {
        let file: PriceFile =
            serde_json::from_str(json).map_err(|e| format!("prices file: {e}"))?;
        if let Some(c) = file.currency.as_deref().filter(|c| *c != "USD") {
            return Err(format!("prices file: currency must be USD, not {c}"));
        }
        Ok(file)
    }
}

/// Prices per (provider, model). Cheap to clone; build it once at startup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriceTable {
    prices: BTreeMap<(String, String), Price>,
    source: String,
    as_of: String,
}

impl PriceTable {
    /// The built-in list prices of `api/data/prices.json`.
    pub fn builtin() -> Self {
        let file = PriceFile::parse(BUILTIN).expect("api/data/prices.json is valid");
        let mut table = Self {
            prices: BTreeMap::new(),
            source: file.source.clone().unwrap_or_default(),
            as_of: file.as_of.clone().unwrap_or_default(),
        };
        table.apply(file);
        table
    }

    /// The built-in table with the entries of `json` (same shape as `prices.json`;
    /// `source`/`as_of` optional) replacing or adding (provider, model) prices. This is how
    /// `PROMPT_TRACKER_PRICES_FILE` is applied.
    ///
    /// # Errors
    /// A message naming the problem (invalid JSON, unknown key, negative or non-decimal price,
    /// currency other than USD).
    pub fn with_overrides(json: &str) -> Result<Self, String> {
        let file = PriceFile::parse(json)?;
        let mut table = Self::builtin();
        if let Some(source) = &file.source {
            table.source = format!("{source}; built-in: {}", table.source);
        }
        if let Some(as_of) = &file.as_of {
            table.as_of.clone_from(as_of);
        }
        table.apply(file);
        Ok(table)
    }

    fn apply(&mut self, file: PriceFile) {
        for (provider, models) in file.models {
            for (model, price) in models {
                self.prices.insert((provider.clone(), model), price);
            }
        }
    }

    /// Where the prices come from (the files' `source` notes).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Date of the prices (`as_of` of the last file that gave one), `YYYY-MM-DD`.
    pub fn as_of(&self) -> &str {
        &self.as_of
    }

    /// The price of `model` of `provider`: the exact id first, then its base id
    /// ([`base_model_id`]: `gpt-4o-2024-08-06` -> `gpt-4o`, `claude-sonnet-4-20250514` ->
    /// `claude-sonnet-4`, `claude-3-5-haiku-latest` -> `claude-3-5-haiku`,
    /// `gemini-2.0-flash-001` -> `gemini-2.0-flash`). None for an unknown model.
    pub fn price(&self, provider: &str, model: &str) -> Option<Price> {
        let get = |m: &str| {
            self.prices
                .get(&(provider.to_owned(), m.to_owned()))
                .copied()
        };
        get(model).or_else(|| base_model_id(model).and_then(get))
    }

    /// Cost of a call in USD, rounded half away from zero to 6 decimal places (scale 6):
    /// `(tokens_prompt × input + tokens_completion × output) / 1,000,000`, with the
    /// long-context rates when the prompt exceeds their threshold.
    ///
    /// None when the model has no price, when both token counts are None (an unknown cost is
    /// never reported as 0), or when a count is negative. A single missing count contributes
    /// nothing (providers that report only prompt tokens still get a prompt cost).
    pub fn cost_usd(
        &self,
        provider: &str,
        model: &str,
        tokens_prompt: Option<i64>,
        tokens_completion: Option<i64>,
    ) -> Option<Decimal> {
        if tokens_prompt.is_none() && tokens_completion.is_none() {
            return None;
        }
        let prompt = u64::try_from(tokens_prompt.unwrap_or(0)).ok()?;
        let completion = u64::try_from(tokens_completion.unwrap_or(0)).ok()?;
        let price = self.price(provider, model)?;
        let (input, output) = price.rates_for(prompt);
        let total = Decimal::from(prompt)
            .checked_mul(input)?
            .checked_add(Decimal::from(completion).checked_mul(output)?)?;
        let mut cost = (total / Decimal::from(1_000_000))
            .round_dp_with_strategy(6, RoundingStrategy::MidpointAwayFromZero);
        cost.rescale(6);
        Some(cost)
    }
}

/// The base id a dated snapshot or alias falls back to, or None when `model` has no such
/// suffix. One suffix is stripped:
/// - `-YYYY-MM-DD` (OpenAI snapshots: `gpt-4o-2024-08-06`),
/// - `-YYYYMMDD` (Anthropic snapshots: `claude-sonnet-4-20250514`),
/// - `-latest` (Anthropic aliases: `claude-3-5-sonnet-latest`),
/// - `-NNN` (Gemini stable versions: `gemini-2.0-flash-001`).
pub fn base_model_id(model: &str) -> Option<&str> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Some(base) = model.strip_suffix("-latest") {
        return Some(base).filter(|b| !b.is_empty());
    }
    // -YYYY-MM-DD
    if model.len() > 11 {
        let (base, tail) = model.split_at(model.len() - 11);
        let parts: Vec<&str> = tail.split('-').collect();
        if let ["", y, m, d] = parts.as_slice()
            && y.len() == 4
            && m.len() == 2
            && d.len() == 2
            && digits(y)
            && digits(m)
            && digits(d)
        {
            return Some(base);
        }
    }
    let (base, tail) = model.rsplit_once('-')?;
    if !base.is_empty() && digits(tail) && (tail.len() == 8 || tail.len() == 3) {
        return Some(base);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::model_config::catalog;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn builtin_table_has_its_source_and_date() {
        let t = PriceTable::builtin();
        assert!(t.source().contains("platform.openai.com/docs/pricing"));
        assert_eq!(t.as_of(), "2026-11-21");
        assert_eq!(
            t.price("openai", "gpt-4o"),
            Some(Price {
                input_per_million_usd: d("2.50"),
                output_per_million_usd: d("10.00"),
                long_context: None
            })
        );
    }

    #[test]
    fn every_catalog_model_has_a_price_except_retired_unconfirmed_ones() {
        let t = PriceTable::builtin();
        let mut missing = Vec::new();
        for p in catalog() {
            for m in p.models {
                if t.price(p.key, m.id).is_none() {
                    missing.push(m.id);
                }
            }
        }
        assert_eq!(missing, ["gemini-1.5-pro"]);
    }

    #[test]
    fn costs_are_exact_decimals_rounded_to_six_places() {
        let t = PriceTable::builtin();
        // 1,000 × 2.50/M + 500 × 10.00/M = 0.0025 + 0.005
        assert_eq!(
            t.cost_usd("openai", "gpt-4o", Some(1000), Some(500)),
            Some(d("0.0075"))
        );
        // 1 × 0.15/M = 0.00000015 -> 0.000000 after rounding; 3 × 0.15/M = 0.00000045 -> 0.000000
        assert_eq!(
            t.cost_usd("openai", "gpt-4o-mini", Some(1), Some(0)),
            Some(d("0.000000"))
        );
        // 7 × 0.15/M + 0 = 0.00000105 -> 0.000001
        assert_eq!(
            t.cost_usd("openai", "gpt-4o-mini", Some(7), None),
            Some(d("0.000001"))
        );
        // half away from zero: 5 × 0.10/M = 0.0000005 -> 0.000001
        assert_eq!(
            t.cost_usd("google", "gemini-2.0-flash", Some(5), None),
            Some(d("0.000001"))
        );
        // only completion tokens known
        assert_eq!(
            t.cost_usd(
                "anthropic",
                "claude-3-5-haiku-latest",
                None,
                Some(1_000_000)
            ),
            Some(d("4"))
        );
        // 123,456 × 1.10/M + 7,890 × 4.40/M = 0.1358016 + 0.034716 = 0.1705176 -> 0.170518
        assert_eq!(
            t.cost_usd("openai", "o3-mini", Some(123_456), Some(7_890)),
            Some(d("0.170518"))
        );
        assert_eq!(
            t.cost_usd("openai", "o3-mini", Some(0), Some(0)),
            Some(Decimal::ZERO)
        );
        assert_eq!(
            t.cost_usd("openai", "gpt-4o", Some(1000), Some(500))
                .unwrap()
                .scale(),
            6
        );
    }

    #[test]
    fn unknown_models_and_unknown_token_counts_give_none() {
        let t = PriceTable::builtin();
        assert_eq!(t.cost_usd("openai", "gpt-99", Some(10), Some(10)), None);
        assert_eq!(t.cost_usd("mistral", "gpt-4o", Some(10), Some(10)), None);
        assert_eq!(t.cost_usd("openai", "gpt-4o", None, None), None);
        assert_eq!(t.cost_usd("openai", "gpt-4o", Some(-1), Some(10)), None);
        assert_eq!(
            t.cost_usd("google", "gemini-1.5-pro", Some(10), Some(10)),
            None
        );
        assert_eq!(t.price("anthropic", "gpt-4o"), None);
    }

    #[test]
    fn snapshots_and_aliases_fall_back_to_their_base_model() {
        let t = PriceTable::builtin();
        assert_eq!(
            t.price("openai", "gpt-4o-2024-08-06"),
            t.price("openai", "gpt-4o")
        );
        // an explicitly listed snapshot wins over its base
        assert_eq!(
            t.cost_usd("openai", "gpt-4o-2024-05-13", Some(1_000_000), Some(0)),
            Some(d("5"))
        );
        assert_eq!(
            t.cost_usd("openai", "gpt-4o-2024-08-06", Some(1_000_000), Some(0)),
            Some(d("2.5"))
        );
        assert_eq!(
            t.cost_usd(
                "anthropic",
                "claude-sonnet-4-20250514",
                Some(1000),
                Some(1000)
            ),
            Some(d("0.018"))
        );
        assert!(t.price("anthropic", "claude-3-5-sonnet-latest").is_some());
        assert!(t.price("anthropic", "claude-3-5-sonnet-20241022").is_some());
        assert!(t.price("google", "gemini-2.0-flash-001").is_some());
        assert_eq!(base_model_id("gpt-4o-mini-2024-07-18"), Some("gpt-4o-mini"));
        assert_eq!(base_model_id("o3-mini-2025-01-31"), Some("o3-mini"));
        assert_eq!(base_model_id("gpt-4o"), None);
        assert_eq!(base_model_id("gpt-4.1"), None);
        assert_eq!(base_model_id("-latest"), None);
        assert_eq!(base_model_id("2024-08-06"), None);
    }

    #[test]
    fn long_prompts_use_long_context_rates() {
        let t = PriceTable::builtin();
        // at the threshold: base rates; 200,000 × 1.25/M + 1,000 × 10/M = 0.25 + 0.01
        assert_eq!(
            t.cost_usd("google", "gemini-2.5-pro", Some(200_000), Some(1000)),
            Some(d("0.26"))
        );
        // above: 200,001 × 2.50/M + 1,000 × 15/M = 0.5000025 + 0.015 = 0.5150025 -> 0.515003
        assert_eq!(
            t.cost_usd("google", "gemini-2.5-pro", Some(200_001), Some(1000)),
            Some(d("0.515003"))
        );
        assert_eq!(
            t.cost_usd(
                "anthropic",
                "claude-sonnet-4-20250514",
                Some(300_000),
                Some(0)
            ),
            Some(d("1.8"))
        );
    }

    #[test]
    fn overrides_replace_and_add_entries() {
        let t = PriceTable::with_overrides(
            r#"{"source": "our contract", "as_of": "2026-12-01",
                "models": {"openai": {"gpt-4o": {"input_per_million_usd": 2,
                                                 "output_per_million_usd": "8.5"}},
                           "mistral": {"mistral-large": {"input_per_million_usd": "2",
                                                         "output_per_million_usd": "6"}}}}"#,
        )
        .unwrap();
        assert_eq!(
            t.cost_usd("openai", "gpt-4o", Some(1_000_000), Some(1_000_000)),
            Some(d("10.5"))
        );
        // the override also applies to snapshots of the overridden model
        assert_eq!(
            t.cost_usd("openai", "gpt-4o-2024-11-20", Some(1_000_000), None),
            Some(d("2"))
        );
        assert_eq!(
            t.cost_usd("mistral", "mistral-large", Some(500_000), Some(0)),
            Some(d("1"))
        );
        // untouched entries keep the built-in price
        assert_eq!(
            t.price("openai", "gpt-4o-mini"),
            PriceTable::builtin().price("openai", "gpt-4o-mini")
        );
        assert_eq!(t.as_of(), "2026-12-01");
        assert!(t.source().starts_with("our contract; built-in: "));
        // numbers are read exactly as written
        let t = PriceTable::with_overrides(
            r#"{"models": {"openai": {"x": {"input_per_million_usd": 0.1, "output_per_million_usd": 1e-1}}}}"#,
        )
        .unwrap();
        assert_eq!(
            t.price("openai", "x").unwrap().input_per_million_usd,
            d("0.1")
        );
        assert_eq!(
            t.price("openai", "x").unwrap().output_per_million_usd,
            d("0.1")
        );
        assert_eq!(t.as_of(), "2026-11-21");
    }

    #[test]
    fn bad_override_files_are_refused_with_a_reason() {
        let err = |json: &str| PriceTable::with_overrides(json).unwrap_err();
        assert!(err("{").starts_with("prices file: "));
        assert!(err(r#"{"models": {"openai": {"x": {"input_per_million_usd": "-1", "output_per_million_usd": "1"}}}}"#)
            .contains("price -1 is negative"));
        assert!(err(r#"{"models": {"openai": {"x": {"input_per_million_usd": "cheap", "output_per_million_usd": "1"}}}}"#)
            .contains("\"cheap\" is not a decimal USD amount"));
        assert!(err(r#"{"models": {"openai": {"x": {"input_usd": "1", "output_per_million_usd": "1"}}}}"#)
            .contains("unknown field `input_usd`"));
        assert!(
            err(r#"{"models": {"openai": {"x": {"output_per_million_usd": "1"}}}}"#)
                .contains("missing field `input_per_million_usd`")
        );
        assert_eq!(
            err(r#"{"currency": "EUR", "models": {}}"#),
            "prices file: currency must be USD, not EUR"
        );
        assert!(err(r#"{"prices": {}}"#).contains("unknown field `prices`"));
    }
}
