//! The reference and template syntax of flow steps, in one parser that never panics.
//!
//! A step's `auth` is exactly one connection reference:
//!
//! ```text
//! {{connections['my-slack-connection']}}      (double quotes work too)
//! ```
//!
//! A string anywhere in a step's `input` may contain expressions that read earlier
//! steps' outputs:
//!
//! ```text
//! {{steps.ask.output.reply}}                  a field
//! {{steps['ask'].output.choices[0].text}}     bracketed names, array indexes
//! {{ steps.lookup.output }}                   the whole output; spaces are allowed
//! ```
//!
//! A string that is exactly one expression becomes the value it names (a number stays a
//! number); an expression inside longer text is replaced by the value's text. A
//! connection reference is not allowed in inputs: credentials reach a piece only
//! through its auth.

use serde_json::Value;
use std::fmt;

/// A parsed expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// `connections['external-id']`.
    Connection(String),
    /// `steps.NAME.output` followed by a path.
    Step {
        /// The step's name.
        step: String,
        /// The path into its output.
        path: Vec<Segment>,
    },
}

/// One step of a path into a JSON value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// `.name` or `['name']`.
    Key(String),
    /// `[3]`.
    Index(usize),
}

/// A piece of a template string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Literal text.
    Text(String),
    /// An expression to substitute.
    Expr(Expr),
}

/// A syntax error, with the byte offset where it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at character {offset})")]
pub struct ParseError {
    /// What is wrong.
    pub message: String,
    /// Byte offset in the input.
    pub offset: usize,
}

fn err<T>(message: impl Into<String>, offset: usize) -> Result<T, ParseError> {
    Err(ParseError {
        message: message.into(),
        offset,
    })
}

/// Splits `input` into text and `{{ … }}` expressions.
pub fn parse(input: &str) -> Result<Vec<Part>, ParseError> {
    let mut parts = Vec::new();
    let mut rest = input;
    let mut base = 0;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            parts.push(Part::Text(rest[..open].to_owned()));
        }
        let body_start = open + 2;
        let Some(close) = rest[body_start..].find("}}") else {
            return err("`{{` is never closed by `}}`", base + open);
        };
        let body = &rest[body_start..body_start + close];
        parts.push(Part::Expr(parse_expr(body, base + body_start)?));
        let next = body_start + close + 2;
        base += next;
        rest = &rest[next..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest.to_owned()));
    }
    Ok(parts)
}

/// Parses a step's `auth`: exactly one connection reference. Returns the external id.
pub fn parse_connection_ref(input: &str) -> Result<String, ParseError> {
    let trimmed = input.trim();
    let lead = input.len() - input.trim_start().len();
    match parse(trimmed)?.as_slice() {
        [Part::Expr(Expr::Connection(id))] => Ok(id.clone()),
        _ => err(
            "auth must be a connection reference like {{connections['my-connection']}}",
            lead,
        ),
    }
}

/// A cursor over an expression body. Works on bytes; every delimiter is ASCII, so each
/// slice it takes starts and ends on a character boundary.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
    base: usize,
}

impl<'a> Cursor<'a> {
    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn at(&self) -> usize {
        self.base + self.pos
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, b: u8) -> Result<(), ParseError> {
        if self.eat(b) {
            Ok(())
        } else {
            err(format!("expected `{}`", b as char), self.at())
        }
    }

    /// A bare name: letters, digits, `_`, `-`.
    fn name(&mut self) -> Result<&'a str, ParseError> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            self.pos += 1;
        }
        if self.pos == start {
            return err("expected a name", self.at());
        }
        Ok(&self.text[start..self.pos])
    }

    /// `'text'` or `"text"`; no escapes, no newline.
    fn quoted(&mut self) -> Result<&'a str, ParseError> {
        let quote = match self.peek() {
            Some(q @ (b'\'' | b'"')) => q,
            _ => return err("expected a quoted name", self.at()),
        };
        self.pos += 1;
        let start = self.pos;
        while let Some(b) = self.peek() {
            if b == quote {
                let s = &self.text[start..self.pos];
                self.pos += 1;
                return Ok(s);
            }
            if b == b'\n' {
                break;
            }
            self.pos += 1;
        }
        err("unterminated quote", self.base + start - 1)
    }

    /// `.name`, `['name']` or `[N]`, or `None` at the end.
    fn segment(&mut self) -> Result<Option<Segment>, ParseError> {
        if self.eat(b'.') {
            return Ok(Some(Segment::Key(self.name()?.to_owned())));
        }
        if self.eat(b'[') {
            self.skip_spaces();
            let seg = if self.peek().is_some_and(|b| b.is_ascii_digit()) {
                let start = self.pos;
                while self.peek().is_some_and(|b| b.is_ascii_digit()) {
                    self.pos += 1;
                }
                match self.text[start..self.pos].parse::<usize>() {
                    Ok(n) => Segment::Index(n),
                    Err(_) => return err("index too large", self.base + start),
                }
            } else {
                Segment::Key(self.quoted()?.to_owned())
            };
            self.skip_spaces();
            self.expect(b']')?;
            return Ok(Some(seg));
        }
        Ok(None)
    }

    /// `.name` or `['name']` after `connections` / `steps`.
    fn member(&mut self) -> Result<&'a str, ParseError> {
        if self.eat(b'.') {
            return self.name();
        }
        self.expect(b'[')?;
        self.skip_spaces();
        let s = self.quoted()?;
        self.skip_spaces();
        self.expect(b']')?;
        Ok(s)
    }
}

fn parse_expr(body: &str, base: usize) -> Result<Expr, ParseError> {
    let mut c = Cursor {
        text: body,
        pos: 0,
        base,
    };
    c.skip_spaces();
    let root_at = c.at();
    let expr = match c.name()? {
        "connections" => {
            let id = c.member()?;
            if !crate::external_id::is_valid(id) {
                return err(
                    "a connection's external id is 1 to 128 letters, digits, '-', '_' or '.'",
                    root_at,
                );
            }
            Expr::Connection(id.to_owned())
        }
        "steps" => {
            let step = c.member()?.to_owned();
            let output_at = c.at();
            if c.member().ok() != Some("output") {
                return err("expected `.output` after the step's name", output_at);
            }
            let mut path = Vec::new();
            while let Some(seg) = c.segment()? {
                path.push(seg);
            }
            Expr::Step { step, path }
        }
        other => {
            return err(
                format!("unknown name `{other}`: expressions start with `connections` or `steps`"),
                root_at,
            );
        }
    };
    c.skip_spaces();
    if c.pos != body.len() {
        return err("unexpected text in the expression", c.at());
    }
    Ok(expr)
}

/// Where a path leads nowhere.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The template did not parse.
    #[error("{0}")]
    Syntax(#[from] ParseError),
    /// A connection reference inside an input.
    #[error("a connection reference may only be a step's auth, not part of its input")]
    ConnectionInInput,
    /// The step has not run (later step, unknown name, or it failed).
    #[error("step `{0}` has no output here (it is unknown, later, or failed)")]
    NoSuchStep(String),
    /// The path does not exist in the output.
    #[error("step `{step}`'s output has nothing at {path}")]
    NoSuchPath {
        /// The step.
        step: String,
        /// The path, as written.
        path: String,
    },
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Segment::Key(k) => write!(f, "['{k}']"),
            Segment::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// The step references in a template, for checking a flow before it runs.
pub fn step_references(value: &Value) -> Result<Vec<String>, RenderError> {
    let mut found = Vec::new();
    visit_strings(value, &mut |s| {
        for part in parse(s)? {
            match part {
                Part::Expr(Expr::Step { step, .. }) => found.push(step),
                Part::Expr(Expr::Connection(_)) => return Err(RenderError::ConnectionInInput),
                Part::Text(_) => {}
            }
        }
        Ok(())
    })?;
    Ok(found)
}

fn visit_strings(
    value: &Value,
    f: &mut impl FnMut(&str) -> Result<(), RenderError>,
) -> Result<(), RenderError> {
    match value {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter().try_for_each(|v| visit_strings(v, f)),
        Value::Object(map) => map.values().try_for_each(|v| visit_strings(v, f)),
        _ => Ok(()),
    }
}

/// Renders `input`, substituting each expression with the named earlier output.
pub fn render(
    input: &Value,
    output_of: &dyn Fn(&str) -> Option<Value>,
) -> Result<Value, RenderError> {
    Ok(match input {
        Value::String(s) if s.contains("{{") => render_string(s, output_of)?,
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| render(v, output_of))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), render(v, output_of)?)))
                .collect::<Result<_, RenderError>>()?,
        ),
        other => other.clone(),
    })
}

fn render_string(s: &str, output_of: &dyn Fn(&str) -> Option<Value>) -> Result<Value, RenderError> {
    let parts = parse(s)?;
    let mut values = Vec::with_capacity(parts.len());
    for part in &parts {
        values.push(match part {
            Part::Text(t) => Value::String(t.clone()),
            Part::Expr(Expr::Connection(_)) => return Err(RenderError::ConnectionInInput),
            Part::Expr(Expr::Step { step, path }) => {
                let output =
                    output_of(step).ok_or_else(|| RenderError::NoSuchStep(step.clone()))?;
                lookup(&output, path).ok_or_else(|| RenderError::NoSuchPath {
                    step: step.clone(),
                    path: path.iter().map(ToString::to_string).collect(),
                })?
            }
        });
    }
    if let ([Part::Expr(_)], [only]) = (parts.as_slice(), values.as_slice()) {
        return Ok(only.clone());
    }
    Ok(Value::String(
        values
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
    ))
}

fn lookup(value: &Value, path: &[Segment]) -> Option<Value> {
    let mut at = value;
    for seg in path {
        at = match seg {
            Segment::Key(k) => at.get(k.as_str())?,
            Segment::Index(i) => at.get(*i)?,
        };
    }
    Some(at.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(input: &str, expect: Result<Vec<Part>, usize>) {
        match (parse(input), expect) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{input}"),
            (Err(e), Err(at)) => assert_eq!(e.offset, at, "{input}: {e}"),
            (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
        }
    }

    fn conn(id: &str) -> Part {
        Part::Expr(Expr::Connection(id.into()))
    }

    fn step(name: &str, path: Vec<Segment>) -> Part {
        Part::Expr(Expr::Step {
            step: name.into(),
            path,
        })
    }

    fn key(k: &str) -> Segment {
        Segment::Key(k.into())
    }

    #[test]
    fn parses() {
        check("{{connections['my-slack']}}", Ok(vec![conn("my-slack")]));
        check("{{ connections[\"a.b_c\"] }}", Ok(vec![conn("a.b_c")]));
        check("{{connections.plain}}", Ok(vec![conn("plain")]));
        check(
            "Hi {{steps.ask.output.reply}}!",
            Ok(vec![
                Part::Text("Hi ".into()),
                step("ask", vec![key("reply")]),
                Part::Text("!".into()),
            ]),
        );
        check(
            "{{steps['my step'].output.items[2]['x y']}}",
            Ok(vec![step(
                "my step",
                vec![key("items"), Segment::Index(2), key("x y")],
            )]),
        );
        check("{{steps.s.output}}", Ok(vec![step("s", vec![])]));
        check("no braces", Ok(vec![Part::Text("no braces".into())]));
        check("", Ok(vec![]));
        check("a } b }} c {", Ok(vec![Part::Text("a } b }} c {".into())]));
    }

    #[test]
    fn errors_point_at_the_problem() {
        check("x {{connections['a']", Err(2));
        check("{{connections['a'}}", Err(17));
        check("{{ secrets.x }}", Err(3));
        check("{{connections['it''s']}}", Err(18));
        check("{{connections['a b']}}", Err(2));
        check("{{steps.a.input}}", Err(9));
        check("{{steps.a.output.}}", Err(17));
        check("{{steps.a.output[99999999999999999999999]}}", Err(17));
        check("{{connections['a']}} {{}}", Err(23));
        check("{{connections['é\n']}}", Err(14));
    }

    #[test]
    fn auth_is_exactly_one_reference() {
        assert_eq!(
            parse_connection_ref("  {{connections['k']}} ").expect("ref"),
            "k"
        );
        for bad in ["k", "{{steps.a.output}}", "x{{connections['k']}}", ""] {
            assert!(parse_connection_ref(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn renders_values_and_text() {
        let outputs =
            |name: &str| (name == "a").then(|| json!({"n": 3, "s": "hi", "l": [1, {"x": true}]}));
        let input = json!({
            "whole": "{{steps.a.output.n}}",
            "text": "n={{steps.a.output.n}}, s={{ steps.a.output.s }}",
            "deep": ["{{steps.a.output.l[1].x}}", 7],
            "all": "{{steps.a.output}}"
        });
        let out = render(&input, &outputs).expect("render");
        assert_eq!(out["whole"], json!(3));
        assert_eq!(out["text"], json!("n=3, s=hi"));
        assert_eq!(out["deep"], json!([true, 7]));
        assert_eq!(out["all"]["s"], json!("hi"));
        assert_eq!(
            render(&json!("{{steps.b.output}}"), &outputs),
            Err(RenderError::NoSuchStep("b".into()))
        );
        assert!(matches!(
            render(&json!("{{steps.a.output.zz}}"), &outputs),
            Err(RenderError::NoSuchPath { .. })
        ));
        assert_eq!(
            render(&json!("{{connections['k']}}"), &outputs),
            Err(RenderError::ConnectionInInput)
        );
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(4000))]

            /// Any string at all: parsing returns, and an error's offset is inside it.
            #[test]
            fn never_panics(s in "\\PC*") {
                if let Err(e) = parse(&s) {
                    prop_assert!(e.offset <= s.len());
                }
                let _ = parse_connection_ref(&s);
            }

            /// Strings made of the syntax's own pieces reach the deep paths.
            #[test]
            fn never_panics_on_near_misses(parts in proptest::collection::vec(
                prop_oneof![
                    Just("{{".to_owned()), Just("}}".to_owned()), Just("connections".to_owned()),
                    Just("steps".to_owned()), Just(".output".to_owned()), Just("[".to_owned()),
                    Just("]".to_owned()), Just("'".to_owned()), Just("\"".to_owned()),
                    Just(".".to_owned()), Just(" ".to_owned()), Just("é".to_owned()),
                    "[a-z0-9_-]{0,4}", "[0-9]{1,25}",
                ], 0..24)) {
                let s: String = parts.concat();
                if let Err(e) = parse(&s) {
                    prop_assert!(e.offset <= s.len());
                }
                let _ = render(&Value::String(s.clone()), &|_| Some(serde_json::json!({"a": [1]})));
            }

            /// Every valid external id round-trips through a reference.
            #[test]
            fn references_round_trip(id in "[A-Za-z0-9._-]{1,128}", dq in any::<bool>()) {
                let q = if dq { '"' } else { '\'' };
                let text = format!("{{{{connections[{q}{id}{q}]}}}}");
                prop_assert_eq!(parse_connection_ref(&text), Ok(id));
            }
        }
    }
}
