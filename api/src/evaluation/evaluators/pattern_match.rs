//! `pattern_match`: the response must match regular expressions or contain literal strings.
//!
//! Source: PromptTracker `PatternMatchEvaluator` (`lounna-team/PromptTracker`,
//! `app/services/prompt_tracker/evaluators/pattern_match_evaluator.rb`): same config keys
//! (`patterns`, `match_all` default true), same pattern syntax (a string of the form
//! `/body/flags` is a regex, anything else a literal, case-sensitive substring), same score
//! (100 when the pass rule holds, else 0) and pass rule (all patterns match when `match_all`,
//! else at least one). No patterns (`{}` or `[]`) fails with score 0, as in PromptTracker.
//!
//! Regexes are written in Ruby's (Onigmo's) syntax and translated ([`translate`]) for Rust's
//! `regex` engine with Ruby's meaning:
//! - `^`/`$` always match at line boundaries; `m` (flag or inline `(?m)`) makes `.` match
//!   newlines; `i` ignores case; `x` ignores whitespace and `#` comments outside character
//!   classes, while inside a class whitespace and `#` stay literal, as in Ruby;
//! - `\w`, `\d`, `\s`, `\h` (and `\W`, `\D`, `\S`, `\H`) are ASCII-only, as in Ruby:
//!   `[a-zA-Z0-9_]`, `[0-9]`, `[ \t\n\v\f\r]`, `[0-9a-fA-F]` (an accented letter is not `\w`,
//!   an Arabic-Indic digit not `\d`, U+00A0 not `\s`); `\b` uses Unicode word characters in
//!   both;
//! - `{` that does not start a valid interval is a literal, `{,n}` means `{0,n}`, `\<` and `\>`
//!   are the literal characters, `[\b]` is a backspace, `\e` is ESC, `\p{^X}` is `\P{X}`, and
//!   `(?#...)` is a comment, as in Ruby;
//! - the pattern syntax is PromptTracker's `\A/(.*)/([imx]*)\z`: a string whose body contains
//!   a newline is a literal (Ruby's `.` does not match one). Inside the body `\/` stands for
//!   `/`.
//!
//! Differences:
//! - `s` is also accepted as a flag (and inline option), the JavaScript spelling of Ruby's `m`
//!   (PromptTracker reads `/a/s` as a literal string).
//! - Regex features Rust's engine lacks are config errors here (PromptTracker runs them):
//!   look-around, backreferences, atomic groups, possessive quantifiers, conditionals,
//!   subexpression calls, `\G`, `\Z`, `\K`, `\R`, `\X`, octal escapes, the character-set
//!   options `(?a)`, `(?d)`, `(?u)`; so is an empty pattern string (PromptTracker's form drops
//!   blank lines). A stored config with one is recorded as an evaluation in error (see
//!   [`super`]).
//! - POSIX bracket classes (`[[:alpha:]]`, `[[:digit:]]`, ...) are ASCII-only here; Ruby's
//!   match Unicode characters (`à` is `[[:alpha:]]`, U+0660 is `[[:digit:]]`).
//! - `i` uses simple (one-to-one) case folding: Ruby also folds some characters to several
//!   (`/ss/i` matches `ß` in Ruby, not here).
//! - Unknown config keys and non-boolean `match_all` are config errors (PromptTracker ignores
//!   unknown keys and uses Ruby truthiness).

use regex::{Regex, RegexBuilder};
use serde_json::{Value, json};

use super::{
    EvaluationInput, Evaluator, Outcome, config_bool, config_strings, object_schema, plural,
};
use crate::validation::FieldError;

/// The `pattern_match` evaluator (PromptTracker `PatternMatchEvaluator`).
///
/// Config: `patterns` (array of non-empty strings, default `[]`): `/body/flags` with flags from
/// `imsx` is a regex in Ruby's syntax, anything else a literal substring; `match_all` (bool,
/// default true).
///
/// Score: 100 when passed, else 0 (PromptTracker scores this evaluator in binary mode). Passed:
/// every pattern matches when `match_all`, at least one otherwise. Details: `matched` and
/// `unmatched` (the pattern strings as configured), `match_all`.
#[derive(Clone, Copy, Debug, Default)]
pub struct PatternMatch;

/// A compiled pattern.
enum Matcher {
    Regex(Regex),
    Literal(String),
}

impl Matcher {
    fn is_match(&self, text: &str) -> bool {
        match self {
            Matcher::Regex(re) => re.is_match(text),
            Matcher::Literal(s) => text.contains(s.as_str()),
        }
    }
}

/// Splits `/body/flags` (flags from `imsx`) into body and flags; `None` for a literal. Like
/// PromptTracker's `\A/(.*)/([imx]*)\z`, the body runs to the LAST `/` and cannot contain a
/// newline (Ruby's `.` does not match one).
fn split_regex(pattern: &str) -> Option<(&str, &str)> {
    let rest = pattern.strip_prefix('/')?;
    let end = rest.rfind('/')?;
    let (body, flags) = (&rest[..end], &rest[end + 1..]);
    (!body.contains('\n') && flags.chars().all(|c| "imsx".contains(c))).then_some((body, flags))
}

/// Ruby's `\w`, `\d`, `\s`, `\h` and their negations as `regex` classes (ASCII-only, as in
/// Ruby), or `None` for another escape letter. Whitespace is written as escapes so that it
/// survives the `x` flag.
fn ascii_class(letter: char) -> Option<(&'static str, bool)> {
    let (set, negated) = match letter {
        'w' => ("0-9A-Za-z_", false),
        'W' => ("0-9A-Za-z_", true),
        'd' => ("0-9", false),
        'D' => ("0-9", true),
        's' => (r"\t\n\x0B\x0C\r\x20", false),
        'S' => (r"\t\n\x0B\x0C\r\x20", true),
        'h' => ("0-9A-Fa-f", false),
        'H' => ("0-9A-Fa-f", true),
        _ => return None,
    };
    Some((set, negated))
}

/// Translates a Ruby (Onigmo) regex body into the `regex` crate's syntax with the same meaning
/// (see the module documentation for what changes); `extended` is the `x` flag. Constructs the
/// `regex` crate lacks are left for it to reject, except the ones named in `Err`.
fn translate(body: &str, extended: bool) -> Result<String, String> {
    let cs: Vec<char> = body.chars().collect();
    let mut out = String::with_capacity(body.len() + 16);
    // `x` in force, and the values to restore when each open group closes.
    let mut x = extended;
    let mut groups: Vec<bool> = Vec::new();
    // Depth of nested character classes (0: outside any class).
    let mut class = 0usize;
    let mut i = 0;
    // Opens a class at `cs[i] == '['`: `^` and a leading `]` (a literal in both engines, written
    // escaped) are copied; returns the next index.
    let open_class = |out: &mut String, mut i: usize| {
        out.push('[');
        i += 1;
        if cs.get(i) == Some(&'^') {
            out.push('^');
            i += 1;
        }
        if cs.get(i) == Some(&']') {
            out.push_str(r"\]");
            i += 1;
        }
        i
    };
    while i < cs.len() {
        let c = cs[i];
        if c == '\\' {
            let Some(&e) = cs.get(i + 1) else {
                out.push(c);
                break;
            };
            i += 2;
            if let Some((set, negated)) = ascii_class(e) {
                let class_text = format!("[{}{set}]", if negated { "^" } else { "" });
                if class > 0 {
                    // A nested class is a union inside a class.
                    out.push_str(&class_text);
                } else {
                    // Ruby's \w is a character type, not a set of letters: `i` does not extend
                    // it (the `regex` crate would add the Kelvin sign to [A-Za-z] under `i`).
                    out.push_str(&format!("(?-i:{class_text})"));
                }
                continue;
            }
            match e {
                '<' | '>' => out.push(e),
                'e' => out.push_str(r"\x1B"),
                'b' if class > 0 => out.push_str(r"\x08"),
                'p' | 'P' | 'x' | 'u' if cs.get(i) == Some(&'{') => {
                    let Some(len) = cs[i..].iter().position(|&c| c == '}') else {
                        return Err(format!("unterminated \\{e}{{...}}"));
                    };
                    let mut inner: String = cs[i + 1..i + len].iter().collect();
                    let mut letter = e;
                    if matches!(e, 'p' | 'P') && inner.starts_with('^') {
                        inner.remove(0);
                        letter = if e == 'p' { 'P' } else { 'p' };
                    }
                    out.push_str(&format!("\\{letter}{{{inner}}}"));
                    i += len + 1;
                }
                _ => {
                    out.push('\\');
                    out.push(e);
                }
            }
            continue;
        }
        if class > 0 {
            match c {
                '[' if cs.get(i + 1) == Some(&':') => {
                    // A POSIX bracket `[:name:]` (or `[:^name:]`), copied as is.
                    let end = cs[i + 2..]
                        .windows(2)
                        .position(|w| w == [':', ']'])
                        .map(|p| i + 2 + p + 2);
                    match end {
                        Some(end) => {
                            out.extend(&cs[i..end]);
                            i = end;
                        }
                        None => {
                            out.push_str(r"\[");
                            i += 1;
                        }
                    }
                    continue;
                }
                '[' => {
                    class += 1;
                    i = open_class(&mut out, i);
                    continue;
                }
                ']' => {
                    class -= 1;
                    out.push(']');
                }
                // Inside a class Ruby keeps whitespace and `#` under `x`; the `regex` crate
                // would drop them, unless escaped.
                '#' if x => out.push_str(r"\#"),
                c if x && c.is_whitespace() => out.push_str(&format!("\\x{{{:X}}}", c as u32)),
                c => out.push(c),
            }
            i += 1;
            continue;
        }
        match c {
            '[' => {
                class = 1;
                i = open_class(&mut out, i);
                continue;
            }
            '(' if cs.get(i + 1) == Some(&'?') && cs.get(i + 2) == Some(&'#') => {
                // A comment group: dropped (the `regex` crate has none).
                let mut j = i + 3;
                while j < cs.len() && cs[j] != ')' {
                    j += if cs[j] == '\\' { 2 } else { 1 };
                }
                if j >= cs.len() {
                    return Err("unterminated (?#...) comment".to_owned());
                }
                i = j + 1;
                continue;
            }
            '(' if cs.get(i + 1) == Some(&'?') => {
                // An option group `(?imx-imx)` or `(?imx-imx:...)`?
                let letters_end = cs[i + 2..]
                    .iter()
                    .position(|c| !(c.is_ascii_alphabetic() || *c == '-'))
                    .map(|p| i + 2 + p);
                let closer = letters_end.and_then(|e| cs.get(e).copied());
                match (letters_end, closer) {
                    (Some(end), Some(closer @ (')' | ':'))) if end > i + 2 => {
                        let mut on = true;
                        let mut new_x = x;
                        let mut options = String::new();
                        for &l in &cs[i + 2..end] {
                            match l {
                                '-' => on = false,
                                'i' => {}
                                'x' => new_x = on,
                                'm' | 's' => {}
                                'a' | 'd' | 'u' => {
                                    return Err(format!(
                                        "the character-set option (?{l}) is not supported"
                                    ));
                                }
                                other => {
                                    return Err(format!("unknown group option (?{other})"));
                                }
                            }
                            // Ruby's `m` is the `regex` crate's `s`.
                            options.push(if l == 'm' { 's' } else { l });
                        }
                        out.push_str("(?");
                        out.push_str(&options);
                        out.push(closer);
                        if closer == ':' {
                            groups.push(x);
                        }
                        x = new_x;
                        i = end + 1;
                        continue;
                    }
                    _ => {
                        groups.push(x);
                        out.push(c);
                    }
                }
            }
            '(' => {
                groups.push(x);
                out.push(c);
            }
            ')' => {
                x = groups.pop().unwrap_or(x);
                out.push(c);
            }
            '#' if x => {
                // A comment, to the end of the line: copied.
                let end = cs[i..]
                    .iter()
                    .position(|&c| c == '\n')
                    .map_or(cs.len(), |p| i + p);
                out.extend(&cs[i..end]);
                i = end;
                continue;
            }
            '{' => {
                // Ruby's intervals: {n}, {n,}, {,m}, {n,m}; any other `{` is a literal.
                let digits =
                    |from: usize| cs[from..].iter().take_while(|c| c.is_ascii_digit()).count();
                let n = digits(i + 1);
                let mut j = i + 1 + n;
                let mut m = None;
                if cs.get(j) == Some(&',') {
                    let len = digits(j + 1);
                    m = Some(len);
                    j += 1 + len;
                }
                let valid = cs.get(j) == Some(&'}') && (n > 0 || m.is_some_and(|len| len > 0));
                if !valid {
                    out.push_str(r"\{");
                } else {
                    if n == 0 {
                        out.push_str("{0");
                    } else {
                        out.push('{');
                        out.extend(&cs[i + 1..i + 1 + n]);
                    }
                    out.extend(&cs[i + 1 + n..=j]);
                    i = j + 1;
                    continue;
                }
            }
            '}' => out.push_str(r"\}"),
            c => out.push(c),
        }
        i += 1;
    }
    Ok(out)
}

/// Compiles one configured pattern; `Err` holds a one-line reason.
fn compile(pattern: &str) -> Result<Matcher, String> {
    let Some((body, flags)) = split_regex(pattern) else {
        return Ok(Matcher::Literal(pattern.to_owned()));
    };
    let translated = translate(body, flags.contains('x'))
        .map_err(|reason| format!("invalid regular expression {pattern}: {reason}"))?;
    RegexBuilder::new(&translated)
        .case_insensitive(flags.contains('i'))
        .multi_line(true)
        .dot_matches_new_line(flags.contains('m') || flags.contains('s'))
        .ignore_whitespace(flags.contains('x'))
        .build()
        .map(Matcher::Regex)
        .map_err(|e| {
            // The syntax error's last line is the reason ("error: look-around ... is not
            // supported"); the lines above repeat the pattern with a caret.
            let text = e.to_string();
            let reason = text.lines().last().unwrap_or_default().trim();
            format!(
                "invalid regular expression {pattern}: {}",
                reason.trim_start_matches("error: ")
            )
        })
}

impl Evaluator for PatternMatch {
    fn key(&self) -> &'static str {
        "pattern_match"
    }

    fn name(&self) -> &'static str {
        "Pattern Match"
    }

    fn description(&self) -> &'static str {
        "Checks if the response matches regex patterns (/body/flags) or contains literal strings."
    }

    fn config_schema(&self) -> Value {
        object_schema(
            "Pattern Match config",
            "PromptTracker PatternMatchEvaluator: /body/flags regexes in Ruby syntax (flags i, \
             m, s, x) or literal substrings; no patterns always fails.",
            json!({
                "patterns": {
                    "type": "array",
                    "items": {"type": "string", "minLength": 1},
                    "default": [],
                    "description": "Regexes written /body/flags (flags from imsx; Ruby \
                                    semantics: ^ and $ match at line boundaries, m or s lets . \
                                    match newlines, \\w \\d \\s are ASCII) or literal, \
                                    case-sensitive substrings."
                },
                "match_all": {
                    "type": "boolean",
                    "default": true,
                    "description": "true: every pattern must match; false: one is enough."
                }
            }),
            &[],
        )
    }

    fn check_config(&self, config: &Value) -> Vec<FieldError> {
        config_strings(config, "patterns")
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                compile(p)
                    .err()
                    .map(|m| FieldError::new(format!("config.patterns[{i}]"), m))
            })
            .collect()
    }

    fn evaluate(&self, config: &Value, input: &EvaluationInput<'_>) -> Outcome {
        let patterns = config_strings(config, "patterns");
        let match_all = config_bool(config, "match_all", true);
        let mut matched = Vec::new();
        let mut unmatched = Vec::new();
        for p in &patterns {
            // A pattern that does not compile (only possible without validate_config) counts
            // as unmatched.
            if compile(p).is_ok_and(|m| m.is_match(input.response_text)) {
                matched.push(*p);
            } else {
                unmatched.push(*p);
            }
        }
        let passed = if patterns.is_empty() {
            false
        } else if match_all {
            unmatched.is_empty()
        } else {
            !matched.is_empty()
        };
        let feedback = if patterns.is_empty() {
            "No patterns configured.".to_owned()
        } else if unmatched.is_empty() {
            format!("All {} matched.", plural(patterns.len(), "pattern"))
        } else if match_all {
            format!(
                "Failed to match {}: {}.",
                plural(unmatched.len(), "pattern"),
                unmatched.join(", ")
            )
        } else if passed {
            format!(
                "{} of {} matched (one is enough).",
                matched.len(),
                plural(patterns.len(), "pattern")
            )
        } else {
            format!("No pattern matched; tried {}.", patterns.join(", "))
        };
        Outcome::new(
            if passed { 100.0 } else { 0.0 },
            passed,
            feedback,
            json!({"matched": matched, "unmatched": unmatched, "match_all": match_all}),
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::tests::input;
    use super::super::{evaluate, validate_config};
    use super::split_regex;

    fn run(config: serde_json::Value, text: &str) -> super::Outcome {
        evaluate("pattern_match", &config, None, &input(text)).unwrap()
    }

    #[test]
    fn split_follows_prompt_tracker_syntax() {
        assert_eq!(split_regex("/Hello/"), Some(("Hello", "")));
        assert_eq!(split_regex("/world/ix"), Some(("world", "ix")));
        assert_eq!(split_regex("/a/b/i"), Some(("a/b", "i")));
        assert_eq!(split_regex("/usr/bin/env"), None);
        assert_eq!(split_regex("/"), None);
        assert_eq!(split_regex("hello"), None);
        assert_eq!(split_regex("/x/g"), None);
        // Ruby's `.` in `\A/(.*)/([imx]*)\z` does not match a newline: a literal.
        assert_eq!(split_regex("/a\nb/"), None);
        assert_eq!(split_regex("/ab/\n"), None);
    }

    #[test]
    fn defaults_are_filled_in() {
        assert_eq!(
            validate_config("pattern_match", &json!({"patterns": ["a"]})).unwrap(),
            json!({"patterns": ["a"], "match_all": true})
        );
        assert_eq!(
            validate_config("pattern_match", &json!({})).unwrap(),
            json!({"patterns": [], "match_all": true})
        );
    }

    #[test]
    fn no_patterns_fails_as_in_prompt_tracker() {
        for cfg in [
            json!({}),
            json!({"patterns": []}),
            json!({"patterns": [], "match_all": false}),
        ] {
            let o = run(cfg, "anything");
            assert_eq!((o.score, o.passed), (0.0, false));
            assert_eq!(o.feedback, "No patterns configured.");
        }
    }

    #[test]
    fn all_patterns_match() {
        let o = run(json!({"patterns": ["/Hello/", "/world/i"]}), "Hello WORLD");
        assert_eq!((o.score, o.passed), (100.0, true));
        assert_eq!(o.details["matched"], json!(["/Hello/", "/world/i"]));
        assert_eq!(o.details["unmatched"], json!([]));
        assert_eq!(o.feedback, "All 2 patterns matched.");
    }

    #[test]
    fn match_all_fails_when_one_misses() {
        let o = run(json!({"patterns": ["/Hello/", "/world/"]}), "Hello WORLD");
        assert_eq!((o.score, o.passed), (0.0, false));
        assert_eq!(o.details["unmatched"], json!(["/world/"]));
        assert_eq!(o.feedback, "Failed to match 1 pattern: /world/.");
    }

    #[test]
    fn match_any() {
        let cfg = json!({"patterns": ["/greeting/i", "/hello/i", "/hi\\b/"], "match_all": false});
        let o = run(cfg.clone(), "Well, HELLO there");
        assert_eq!((o.score, o.passed), (100.0, true));
        assert_eq!(o.details["matched"], json!(["/hello/i"]));
        assert_eq!(o.feedback, "1 of 3 patterns matched (one is enough).");
        let o = run(cfg, "bye");
        assert_eq!((o.score, o.passed), (0.0, false));
        assert!(o.feedback.starts_with("No pattern matched"));
    }

    #[test]
    fn literals_are_case_sensitive_substrings_with_metacharacters() {
        let cfg = json!({"patterns": ["$5.00 (USD)"]});
        assert!(run(cfg.clone(), "It costs $5.00 (USD).").passed);
        assert!(!run(cfg, "It costs $5x00 (USD).").passed);
        assert!(!run(json!({"patterns": ["Hello"]}), "hello").passed);
    }

    #[test]
    fn flags_follow_ruby() {
        // ^ and $ match at line starts/ends without any flag (Ruby).
        assert!(
            run(
                json!({"patterns": ["/^total: \\d+$/"]}),
                "items\ntotal: 3\nend"
            )
            .passed
        );
        // . does not cross newlines without m (or s)...
        assert!(!run(json!({"patterns": ["/start.*end/"]}), "start\nend").passed);
        // ...and does with either.
        assert!(run(json!({"patterns": ["/start.*end/m"]}), "start\nend").passed);
        assert!(run(json!({"patterns": ["/start.*end/s"]}), "start\nend").passed);
        // x: whitespace and comments ignored.
        assert!(run(json!({"patterns": ["/ a b  c # comment/x"]}), "abc").passed);
        assert!(!run(json!({"patterns": ["/ a b  c # comment/x"]}), "a b c").passed);
        // A body with a newline is not a regex in PromptTracker: the string is a literal.
        let multiline = "/ a b  # comment\n c /x";
        assert!(!run(json!({"patterns": [multiline]}), "abc").passed);
        assert!(run(json!({"patterns": [multiline]}), multiline).passed);
        // Escaped slash in the body; Unicode with i.
        assert!(run(json!({"patterns": ["/and\\/or/"]}), "and/or").passed);
        assert!(run(json!({"patterns": ["/ÉTÉ/i"]}), "un été chaud").passed);
    }

    fn matches(pattern: &str, text: &str) -> bool {
        run(json!({"patterns": [pattern]}), text).passed
    }

    #[test]
    fn shorthand_classes_are_ascii_as_in_ruby() {
        // Ruby: /\w/ is [a-zA-Z0-9_], so an accented word is not \w+ from start to end.
        assert!(!matches(r"/^\w+$/", "café"));
        assert!(!matches(r"/\w/", "é"));
        assert!(matches(r"/\W/", "é"));
        assert!(matches(r"/^\w+$/", "cafe_42"));
        // /\d/ is [0-9]: Arabic-Indic digits are not digits.
        assert!(!matches(r"/\d/", "٣٤"));
        assert!(matches(r"/\D/", "٣"));
        assert!(matches(r"/^\d+$/", "0123456789"));
        // /\s/ is [ \t\n\v\f\r]: U+00A0 is not a space.
        assert!(!matches(r"/\s/", "a\u{a0}b"));
        assert!(matches(r"/\S/", "\u{a0}"));
        assert!(matches(r"/^\s+$/", " \t\n\u{0B}\u{0C}\r"));
        // \h is a hex digit.
        assert!(matches(r"/^\h+$/", "BEEF09af"));
        assert!(!matches(r"/\h/", "g"));
        // Inside classes too, negated ones included.
        assert!(!matches(r"/[\w.]/", "é"));
        assert!(matches(r"/^[\w.-]+$/", "a.b-c"));
        assert!(matches(r"/[\W]/", "é"));
        assert!(!matches(r"/[^\d]/", "12"));
        assert!(matches(r"/[^\s]/", "\u{a0}"));
        // `i` does not widen \w (the Kelvin sign folds to k, but is not \w).
        assert!(!matches(r"/\w/i", "\u{212A}"));
        assert!(matches(r"/\w/i", "K"));
        // \b keeps Unicode word characters (Onigmo's \b is Unicode too).
        assert!(!matches(r"/caf\b/", "café"));
        assert!(matches(r"/\bcafé\b/", "un café."));
    }

    #[test]
    fn extended_mode_keeps_class_whitespace_as_ruby() {
        // Ruby /x: whitespace inside a class is literal.
        assert!(matches("/[a b]/x", " "));
        assert!(matches("/x [a b] y/x", "x y"));
        assert!(!matches("/x [a b] y/x", "x  y"));
        assert!(matches("/[#]/x", "#"));
        assert!(matches("/[\u{3000}]/x", "\u{3000}"));
        // \s inside a class survives x.
        assert!(matches(r"/a[\s]b/x", "a b"));
        assert!(matches(r"/a \s b/x", "a b"));
        // Inline options: (?x) and (?-x:...) scope as in Ruby.
        assert!(matches("/(?x)[a b]/", " "));
        assert!(matches("/(?x: a [ ] b ) c/", "a b c"));
        assert!(matches("/a (?-x: b )c/x", "a b c"));
        assert!(!matches("/a (?-x: b )c/x", "abc"));
    }

    #[test]
    fn ruby_syntax_is_translated() {
        // Ruby's inline (?m) is dot-all (the regex crate's (?m) is multi-line).
        assert!(matches("/(?m)a.b/", "a\nb"));
        assert!(matches("/(?m:a.)b/", "a\nb"));
        assert!(!matches("/a.b/", "a\nb"));
        // Intervals: {,n} is {0,n}; any other brace is a literal.
        assert!(matches("/^a{,2}b$/", "b"));
        assert!(matches("/^a{,2}b$/", "aab"));
        assert!(!matches("/^a{,2}b$/", "aaab"));
        assert!(matches("/^a{2}$/", "aa"));
        assert!(matches("/^a{1,}$/", "aaa"));
        assert!(matches("/x{y}/", "x{y}"));
        assert!(matches("/{/", "{"));
        assert!(matches("/a{,}/", "a{,}"));
        assert!(matches("/}/", "}"));
        // \< and \> are literals in Ruby (word boundaries in the regex crate).
        assert!(matches(r"/\<b\>/", "<b>"));
        assert!(!matches(r"/\<b\>/", "b"));
        // [\b] is a backspace, \e is ESC, \p{^L} is \P{L}, (?#...) a comment.
        assert!(matches(r"/[\b]/", "\u{8}"));
        assert!(matches(r"/\e/", "\u{1b}"));
        assert!(matches(r"/^\p{^L}+$/", "12"));
        assert!(!matches(r"/\p{^L}/", "ab"));
        assert!(matches("/a(?#note (x\\) y)b/", "ab"));
        // A leading ] in a class is a literal; POSIX brackets are copied.
        assert!(matches("/[]a]/", "]"));
        assert!(matches("/^[[:alpha:]_]+$/", "ab_c"));
        assert!(matches("/[[:^digit:]]/", "a"));
    }

    #[test]
    fn empty_response() {
        let o = run(json!({"patterns": ["/^$/"]}), "");
        assert!(o.passed);
        let o = run(json!({"patterns": ["/./"]}), "");
        assert_eq!((o.score, o.passed), (0.0, false));
    }

    #[test]
    fn invalid_config() {
        let err = validate_config(
            "pattern_match",
            &json!({"patterns": ["ok", "/(unclosed/", "/(?<=a)b/"]}),
        )
        .unwrap_err();
        let fields: Vec<&str> = err.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["config.patterns[1]", "config.patterns[2]"]);
        assert!(
            err[0]
                .message
                .starts_with("invalid regular expression /(unclosed/: "),
            "{err:?}"
        );
        assert!(err[1].message.contains("look-around"), "{err:?}");
        let err = validate_config(
            "pattern_match",
            &json!({"patterns": ["/(?u)\\w/", "/(?U)a+/", "/a(?#b/"]}),
        )
        .unwrap_err();
        let messages: Vec<&str> = err.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "invalid regular expression /(?u)\\w/: the character-set option (?u) is not supported",
                "invalid regular expression /(?U)a+/: unknown group option (?U)",
                "invalid regular expression /a(?#b/: unterminated (?#...) comment"
            ]
        );
        let err = validate_config("pattern_match", &json!({"patterns": ["a", ""]})).unwrap_err();
        assert_eq!(err[0].field, "config.patterns[1]");
        let err = validate_config("pattern_match", &json!({"patterns": "a"})).unwrap_err();
        assert_eq!(err[0].field, "config.patterns");
    }
}
