//! Prompts: create (slug derived from the name), list, read, update, archive; their versions
//! ([`versions`]) and the templates versions hold ([`templates`]).

pub mod templates;
pub mod versions;

use chrono::{DateTime, Utc};
use entity::prelude::*;
use entity::{prompt, prompt_version};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{Error, Result};
use crate::store::pagination::{Page, PageParams, utc};
use crate::validation::Errors;

/// A prompt as the API returns it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PromptOut {
    pub id: i64,
    pub name: String,
    /// Unique, `[a-z0-9_]+`.
    pub slug: String,
    pub description: Option<String>,
    pub category: Option<String>,
    pub tags: Vec<String>,
    pub created_by: Option<String>,
    /// Set when the prompt is archived (soft-deleted); archived prompts stay readable.
    pub archived_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<prompt::Model> for PromptOut {
    fn from(m: prompt::Model) -> Self {
        let tags = serde_json::from_value(m.tags).unwrap_or_default();
        PromptOut {
            id: m.id,
            name: m.name,
            slug: m.slug,
            description: m.description,
            category: m.category,
            tags,
            created_by: m.created_by,
            archived_at: m.archived_at.map(utc),
            created_at: utc(m.created_at),
            updated_at: utc(m.updated_at),
        }
    }
}

/// Body of `POST /api/v1/prompts`.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPrompt {
    /// Unique, 1-255 characters.
    #[schema(min_length = 1, max_length = 255)]
    pub name: String,
    /// Unique `[a-z0-9_]+` (1-100); derived from the name when absent (`_2`, `_3` on collision).
    #[schema(pattern = "^[a-z0-9_]{1,100}$")]
    pub slug: Option<String>,
    pub description: Option<String>,
    pub category: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub created_by: Option<String>,
}

/// Body of `PATCH /api/v1/prompts/{prompt_id}`: only the fields present change; `null`
/// clears an optional field.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromptPatch {
    #[schema(min_length = 1, max_length = 255)]
    pub name: Option<String>,
    #[schema(pattern = "^[a-z0-9_]{1,100}$")]
    pub slug: Option<String>,
    #[serde(default, deserialize_with = "crate::validation::nullable")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::validation::nullable")]
    #[schema(value_type = Option<String>)]
    pub category: Option<Option<String>>,
    pub tags: Option<Vec<String>>,
}

/// Filters of `GET /api/v1/prompts`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PromptFilter {
    /// Only the prompt with this slug.
    pub slug: Option<String>,
    /// `true`: archived prompts only; `false`: active prompts only; absent: both.
    pub archived: Option<bool>,
}

fn check_slug(errors: &mut Errors, slug: &str) {
    if slug.is_empty()
        || slug.len() > 100
        || !slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        errors.add("slug", "must be 1-100 characters of a-z, 0-9 and _");
    }
}

/// The slug a name derives to: transliterated to ASCII (`deunicode`), lowercase letters and
/// digits kept, every other run of characters one `_`, trimmed of `_`, at most 90 characters (room for a `_N` suffix);
/// `prompt` when nothing is left.
pub fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in deunicode::deunicode(name)
        .chars()
        .flat_map(char::to_lowercase)
    {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('_') {
            slug.push('_');
        }
    }
    let slug: String = slug.trim_matches('_').chars().take(90).collect();
    let slug = slug.trim_end_matches('_').to_owned();
    if slug.is_empty() {
        "prompt".to_owned()
    } else {
        slug
    }
}

async fn free_slug<C: ConnectionTrait>(db: &C, base: &str) -> Result<String> {
    let taken: Vec<String> = Prompt::find()
        .select_only()
        .column(prompt::Column::Slug)
        .filter(
            prompt::Column::Slug
                .eq(base)
                .or(prompt::Column::Slug.starts_with(format!("{base}_"))),
        )
        .into_tuple()
        .all(db)
        .await?;
    if !taken.iter().any(|s| s == base) {
        return Ok(base.to_owned());
    }
    Ok((2..)
        .map(|n| format!("{base}_{n}"))
        .find(|s| !taken.contains(s))
        .unwrap_or_default())
}

async fn name_taken<C: ConnectionTrait>(db: &C, name: &str, except: Option<i64>) -> Result<bool> {
    let mut q = Prompt::find().filter(prompt::Column::Name.eq(name));
    if let Some(id) = except {
        q = q.filter(prompt::Column::Id.ne(id));
    }
    Ok(q.one(db).await?.is_some())
}

/// Creates a prompt. 422 on invalid fields, 409 when the name or the given slug is taken.
pub async fn create(db: &DatabaseConnection, input: NewPrompt) -> Result<PromptOut> {
    let mut errors = Errors::default();
    errors.check_name("name", &input.name);
    if let Some(slug) = &input.slug {
        check_slug(&mut errors, slug);
    }
    errors.finish().map_err(Error::Validation)?;
    if name_taken(db, &input.name, None).await? {
        return Err(Error::Conflict(format!(
            "A prompt named {:?} already exists.",
            input.name
        )));
    }
    // A concurrent create may take the derived slug first: retry with the next free one.
    for _ in 0..5 {
        let slug = match &input.slug {
            Some(s) => {
                if Prompt::find()
                    .filter(prompt::Column::Slug.eq(s.as_str()))
                    .one(db)
                    .await?
                    .is_some()
                {
                    return Err(Error::Conflict(format!("The slug {s:?} is already taken.")));
                }
                s.clone()
            }
            None => free_slug(db, &slugify(&input.name)).await?,
        };
        let now = Utc::now().naive_utc();
        let row = prompt::ActiveModel {
            name: Set(input.name.clone()),
            slug: Set(slug),
            description: Set(input.description.clone()),
            category: Set(input.category.clone()),
            tags: Set(serde_json::json!(input.tags)),
            created_by: Set(input.created_by.clone()),
            archived_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        };
        match row.insert(db).await {
            Ok(m) => return Ok(m.into()),
            Err(e)
                if input.slug.is_none() && matches!(Error::from(e.clone()), Error::Conflict(_)) =>
            {
                if name_taken(db, &input.name, None).await? {
                    return Err(Error::Conflict(format!(
                        "A prompt named {:?} already exists.",
                        input.name
                    )));
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Conflict(
        "Could not find a free slug; pass one explicitly.".to_owned(),
    ))
}

/// Reads one prompt (archived ones included). 404 when absent.
pub async fn find(db: &impl ConnectionTrait, id: i64) -> Result<prompt::Model> {
    Prompt::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("prompt", id))
}

/// One page of prompts, by id ascending.
pub async fn list(
    db: &DatabaseConnection,
    filter: &PromptFilter,
    page: &PageParams,
) -> Result<Page<PromptOut>> {
    let keyset = page.keyset()?;
    let mut q = Prompt::find()
        .order_by_asc(prompt::Column::Id)
        .limit(keyset.limit + 1);
    if let Some(after) = keyset.after {
        q = q.filter(prompt::Column::Id.gt(after));
    }
    if let Some(slug) = &filter.slug {
        q = q.filter(prompt::Column::Slug.eq(slug.as_str()));
    }
    match filter.archived {
        Some(true) => q = q.filter(prompt::Column::ArchivedAt.is_not_null()),
        Some(false) => q = q.filter(prompt::Column::ArchivedAt.is_null()),
        None => {}
    }
    let rows = crate::store::pagination::rows(db, &q).await?;
    Ok(Page::from_rows(rows, keyset, |r| r.id, PromptOut::from))
}

/// Applies a patch. 422 on invalid fields, 409 on a taken name or slug.
pub async fn update(db: &DatabaseConnection, id: i64, patch: PromptPatch) -> Result<PromptOut> {
    let current = find(db, id).await?;
    let mut errors = Errors::default();
    if let Some(name) = &patch.name {
        errors.check_name("name", name);
    }
    if let Some(slug) = &patch.slug {
        check_slug(&mut errors, slug);
    }
    errors.finish().map_err(Error::Validation)?;
    if let Some(name) = &patch.name
        && name_taken(db, name, Some(id)).await?
    {
        return Err(Error::Conflict(format!(
            "A prompt named {name:?} already exists."
        )));
    }
    if let Some(slug) = &patch.slug
        && Prompt::find()
            .filter(prompt::Column::Slug.eq(slug.as_str()))
            .filter(prompt::Column::Id.ne(id))
            .one(db)
            .await?
            .is_some()
    {
        return Err(Error::Conflict(format!(
            "The slug {slug:?} is already taken."
        )));
    }
    let mut row: prompt::ActiveModel = current.into();
    if let Some(v) = patch.name {
        row.name = Set(v);
    }
    if let Some(v) = patch.slug {
        row.slug = Set(v);
    }
    if let Some(v) = patch.description {
        row.description = Set(v);
    }
    if let Some(v) = patch.category {
        row.category = Set(v);
    }
    if let Some(v) = patch.tags {
        row.tags = Set(serde_json::json!(v));
    }
    row.updated_at = Set(Utc::now().naive_utc());
    Ok(row.update(db).await?.into())
}

/// Archives a prompt (soft delete) and deprecates its versions, in one transaction.
/// Archiving an archived prompt changes nothing.
pub async fn archive(db: &DatabaseConnection, id: i64) -> Result<PromptOut> {
    // Reads, then writes: a write transaction from the start (see `crate::store::begin_write`).
    let txn = crate::store::begin_write(db).await?;
    let current = find(&txn, id).await?;
    let now = Utc::now().naive_utc();
    let out = if current.archived_at.is_some() {
        current
    } else {
        let mut row: prompt::ActiveModel = current.into();
        row.archived_at = Set(Some(now));
        row.updated_at = Set(now);
        row.update(&txn).await?
    };
    PromptVersion::update_many()
        .col_expr(
            prompt_version::Column::Status,
            Expr::value(prompt_version::VersionStatus::Deprecated),
        )
        .col_expr(prompt_version::Column::UpdatedAt, Expr::value(now))
        .filter(prompt_version::Column::PromptId.eq(id))
        .filter(prompt_version::Column::Status.ne(prompt_version::VersionStatus::Deprecated))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(out.into())
}

#[cfg(test)]
mod tests {
    use super::slugify;

    #[test]
    fn slugs_are_lowercase_ascii_with_underscores() {
        assert_eq!(
            slugify("Customer Support: Reply!"),
            "customer_support_reply"
        );
        assert_eq!(slugify("  Ünïcode  --  name "), "unicode_name");
        assert_eq!(slugify("!!!"), "prompt");
        assert_eq!(slugify("a_b"), "a_b");
    }
}
