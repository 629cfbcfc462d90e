//! Prompt templates: `{{ variable }}` placeholders rendered with minijinja (Jinja2 syntax, a
//! superset of the Mustache-style placeholders PromptTracker stores), variable extraction for
//! `variables_schema`, and the required-variable check.

use entity::{VariableDefinition, VariablesSchema};
use minijinja::{Environment, UndefinedBehavior};
use serde_json::{Map, Value};

use crate::validation::{Errors, FieldError};

/// Instructions one render may execute (minijinja fuel); plenty for any real prompt.
pub const RENDER_FUEL: u64 = 1_000_000;

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // A placeholder without a value renders as empty (optional variables); required ones
    // are checked before rendering, so nothing missing passes silently.
    env.set_undefined_behavior(UndefinedBehavior::Lenient);
    // Bounded work per render: a template cannot loop for ever (minijinja "fuel").
    env.set_fuel(Some(RENDER_FUEL));
    let mut syntax = minijinja::syntax::SyntaxConfig::builder();
    syntax.keep_trailing_newline(true);
    if let Ok(syntax) = syntax.build() {
        env.set_syntax(syntax);
    }
    env
}

/// Checks that `source` is a valid template (422 on `field` otherwise).
pub fn check_syntax(field: &str, source: &str) -> Result<(), FieldError> {
    environment()
        .template_from_str(source)
        .map(|_| ())
        .map_err(|e| FieldError::new(field, format!("is not a valid template: {e}")))
}

/// The top-level variables `sources` use, in order of first appearance.
pub fn variables(sources: &[&str]) -> Vec<String> {
    let env = environment();
    let mut found: Vec<(usize, usize, String)> = Vec::new();
    for (i, source) in sources.iter().enumerate() {
        let Ok(template) = env.template_from_str(source) else {
            continue;
        };
        for name in template.undeclared_variables(false) {
            let at = source.find(name.as_str()).unwrap_or(usize::MAX);
            found.push((i, at, name));
        }
    }
    found.sort();
    let mut names: Vec<String> = Vec::new();
    for (_, _, name) in found {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// A `variables_schema` for the placeholders of `sources`: every variable a required string.
pub fn extract_schema(sources: &[&str]) -> VariablesSchema {
    VariablesSchema(
        variables(sources)
            .into_iter()
            .map(|name| VariableDefinition {
                name,
                kind: "string".to_owned(),
                required: true,
                description: None,
                default: None,
                extra: Map::new(),
            })
            .collect(),
    )
}

/// The values to render with: `given` plus the schema's defaults for absent variables.
/// Errors name every required variable that is missing (field `variables.<name>`).
pub fn resolve(
    schema: &VariablesSchema,
    given: &Map<String, Value>,
) -> Result<Map<String, Value>, Vec<FieldError>> {
    let mut values = given.clone();
    let mut errors = Errors::default();
    for var in &schema.0 {
        let present = matches!(values.get(&var.name), Some(v) if !v.is_null());
        if present {
            continue;
        }
        match &var.default {
            Some(default) => {
                values.insert(var.name.clone(), default.clone());
            }
            None if var.required => errors.add(format!("variables.{}", var.name), "is required"),
            None => {}
        }
    }
    errors.finish().map(|()| values)
}

/// The rendered system and user prompts.
#[derive(Clone, Debug, PartialEq)]
pub struct Rendered {
    pub system: Option<String>,
    pub user: String,
}

/// Renders a version's prompts with `values` (already [`resolve`]d).
pub fn render(
    system: Option<&str>,
    user: &str,
    values: &Map<String, Value>,
) -> Result<Rendered, Vec<FieldError>> {
    let env = environment();
    let context = minijinja::Value::from(minijinja::value::Serde(values));
    let one = |field: &str, source: &str| {
        env.render_str(source, context.clone()).map_err(|e| {
            vec![FieldError::new(
                field,
                format!("could not be rendered: {e}"),
            )]
        })
    };
    Ok(Rendered {
        system: system.map(|s| one("system_prompt", s)).transpose()?,
        user: one("user_prompt", user)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn extracts_variables_in_order_of_appearance() {
        assert_eq!(
            variables(&[
                "You help {{ company }}.",
                "Hi {{name}}, about {{ topic }} at {{company}}"
            ]),
            vec!["company", "name", "topic"]
        );
        let schema = extract_schema(&["{{ a }}"]);
        assert_eq!(schema.0[0].name, "a");
        assert!(schema.0[0].required);
    }

    #[test]
    fn renders_and_names_each_missing_required_variable() {
        let schema = extract_schema(&["Hi {{ name }} from {{ place }}"]);
        let err = resolve(&schema, &map(json!({"other": 1}))).unwrap_err();
        let fields: Vec<&str> = err.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["variables.name", "variables.place"]);
        let values = resolve(&schema, &map(json!({"name": "Ada", "place": "London"}))).unwrap();
        let out = render(
            Some("Be kind to {{ name }}."),
            "Hi {{ name }} from {{ place }}",
            &values,
        )
        .unwrap();
        assert_eq!(out.user, "Hi Ada from London");
        assert_eq!(out.system.as_deref(), Some("Be kind to Ada."));
    }

    #[test]
    fn runaway_templates_stop_with_an_error() {
        let out = render(
            None,
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
            &Map::new(),
        );
        assert!(out.is_err());
    }

    #[test]
    fn defaults_fill_absent_variables_and_syntax_errors_are_reported() {
        let schema: VariablesSchema = serde_json::from_value(
            json!([{"name": "tone", "required": true, "default": "formal"}]),
        )
        .unwrap();
        let values = resolve(&schema, &Map::new()).unwrap();
        assert_eq!(render(None, "{{ tone }}", &values).unwrap().user, "formal");
        assert!(check_syntax("user_prompt", "Hi {{ name").is_err());
        assert!(check_syntax("user_prompt", "Hi {{ name }}").is_ok());
    }
}
