//! A lenient JSON reader that keeps what rt-app files rely on and what `serde_json` throws away.
//!
//! rt-app parses its input with json-c in non-strict mode, so real files contain `//` and
//! `/* */` comments, trailing commas and single-quoted strings. They also repeat keys on
//! purpose (`"run"` three times in one phase, meant for rt-app's `workgen` preprocessor), so an
//! object here is a list of `(key, value)` pairs in textual order, never a map. Every key and
//! value carries its 1-based line and column so that the resolver can name the exact spot of a
//! mistake.
//!
//! The reader never panics: every malformed input is a [`JsonError`] with a position. Nesting is
//! bounded by [`MAX_DEPTH`] so that hostile input cannot overflow the stack.

use std::fmt;

/// Deepest nesting of arrays and objects accepted. Real rt-app files nest four levels deep
/// (root, tasks, task, phases, phase, timer); this leaves ample room while keeping recursion
/// far from the stack limit.
pub const MAX_DEPTH: usize = 128;

/// A 1-based position in the text. Columns count Unicode scalar values, not bytes, so they match
/// what an editor shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// An object key with the position of its opening quote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    pub name: String,
    pub pos: Pos,
}

/// A value with the position of its first character.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Value {
    pub kind: ValueKind,
    pub pos: Pos,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValueKind {
    Null,
    Bool(bool),
    /// A number written without fraction or exponent.
    Int(i64),
    /// A number with a fraction or an exponent, kept as written: the resolver only needs to
    /// reject it by name, and keeping the text avoids floating point anywhere in the crate.
    Float(String),
    Str(String),
    Array(Vec<Value>),
    /// Every member in textual order, repeated keys included.
    Object(Vec<(Key, Value)>),
}

impl Value {
    /// What the value is, for messages ("expected an integer, found a string").
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            ValueKind::Null => "null",
            ValueKind::Bool(_) => "a boolean",
            ValueKind::Int(_) => "an integer",
            ValueKind::Float(_) => "a number with a fraction",
            ValueKind::Str(_) => "a string",
            ValueKind::Array(_) => "an array",
            ValueKind::Object(_) => "an object",
        }
    }

    pub fn as_object(&self) -> Option<&[(Key, Value)]> {
        match &self.kind {
            ValueKind::Object(members) => Some(members),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            ValueKind::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self.kind {
            ValueKind::Int(i) => Some(i),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self.kind {
            ValueKind::Bool(b) => Some(b),
            _ => None,
        }
    }
}

/// A syntax error at a position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonError {
    pub pos: Pos,
    pub message: String,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.pos, self.message)
    }
}

impl std::error::Error for JsonError {}

/// Parses one JSON document (any value at the top) followed only by whitespace and comments.
pub fn parse(text: &str) -> Result<Value, JsonError> {
    let mut p = Parser::new(text);
    p.skip_trivia()?;
    if p.peek().is_none() {
        return Err(p.error_here("the file is empty: expected a JSON object"));
    }
    let value = p.value(0)?;
    p.skip_trivia()?;
    if let Some(c) = p.peek() {
        return Err(p.error_here(format!(
            "unexpected {} after the end of the JSON document (is a comma or a brace misplaced?)",
            describe(c)
        )));
    }
    Ok(value)
}

struct Parser<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    pos: Pos,
}

fn describe(c: char) -> String {
    match c {
        '\n' => "end of line".to_string(),
        c if c.is_control() => format!("control character U+{:04X}", c as u32),
        c => format!("character '{c}'"),
    }
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        Parser {
            chars: text.chars().peekable(),
            pos: Pos { line: 1, col: 1 },
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.chars.peek().copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.pos.line = self.pos.line.saturating_add(1);
            self.pos.col = 1;
        } else {
            self.pos.col = self.pos.col.saturating_add(1);
        }
        Some(c)
    }

    fn error_at(&self, pos: Pos, message: impl Into<String>) -> JsonError {
        JsonError {
            pos,
            message: message.into(),
        }
    }

    fn error_here(&self, message: impl Into<String>) -> JsonError {
        self.error_at(self.pos, message)
    }

    fn unexpected(&mut self, expected: &str) -> JsonError {
        match self.peek() {
            None => self.error_here(format!("unexpected end of file, expected {expected}")),
            Some(c) => self.error_here(format!("unexpected {}, expected {expected}", describe(c))),
        }
    }

    /// Skips whitespace and both comment styles json-c accepts.
    fn skip_trivia(&mut self) -> Result<(), JsonError> {
        loop {
            match self.peek() {
                Some(c) if c.is_whitespace() => {
                    self.bump();
                }
                Some('/') => {
                    let start = self.pos;
                    self.bump();
                    match self.peek() {
                        Some('/') => {
                            while let Some(c) = self.bump() {
                                if c == '\n' {
                                    break;
                                }
                            }
                        }
                        Some('*') => {
                            self.bump();
                            let mut closed = false;
                            while let Some(c) = self.bump() {
                                if c == '*' && self.peek() == Some('/') {
                                    self.bump();
                                    closed = true;
                                    break;
                                }
                            }
                            if !closed {
                                return Err(self.error_at(
                                    start,
                                    "unterminated comment: '/*' has no matching '*/'",
                                ));
                            }
                        }
                        _ => {
                            return Err(self.error_at(
                                start,
                                "unexpected '/': comments start with '//' or '/*'",
                            ))
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, JsonError> {
        let pos = self.pos;
        let kind = match self.peek() {
            None => return Err(self.unexpected("a value")),
            Some('{') => {
                if depth >= MAX_DEPTH {
                    return Err(self.error_here(format!(
                        "nesting deeper than {MAX_DEPTH} levels of objects and arrays"
                    )));
                }
                self.object(depth + 1)?
            }
            Some('[') => {
                if depth >= MAX_DEPTH {
                    return Err(self.error_here(format!(
                        "nesting deeper than {MAX_DEPTH} levels of objects and arrays"
                    )));
                }
                self.array(depth + 1)?
            }
            Some(q @ ('"' | '\'')) => ValueKind::Str(self.string(q)?),
            Some(c) if c == '-' || c.is_ascii_digit() => self.number()?,
            Some(c) if c.is_alphabetic() => self.literal()?,
            Some(_) => return Err(self.unexpected("a value")),
        };
        Ok(Value { kind, pos })
    }

    fn literal(&mut self) -> Result<ValueKind, JsonError> {
        let pos = self.pos;
        let mut word = String::new();
        while let Some(c) = self.peek() {
            if c.is_alphanumeric() || c == '_' {
                word.push(c);
                self.bump();
            } else {
                break;
            }
            if word.len() > 64 {
                break;
            }
        }
        match word.as_str() {
            "true" => Ok(ValueKind::Bool(true)),
            "false" => Ok(ValueKind::Bool(false)),
            "null" => Ok(ValueKind::Null),
            _ => Err(self.error_at(
                pos,
                format!(
                    "unexpected word '{word}': strings need double quotes \
                     (the only bare words are true, false and null)"
                ),
            )),
        }
    }

    fn number(&mut self) -> Result<ValueKind, JsonError> {
        let pos = self.pos;
        let mut text = String::new();
        if self.peek() == Some('-') {
            text.push('-');
            self.bump();
        }
        let mut int_digits = 0usize;
        while let Some(c) = self.peek().filter(char::is_ascii_digit) {
            text.push(c);
            self.bump();
            int_digits += 1;
        }
        if int_digits == 0 {
            return Err(self.error_at(pos, "a '-' must be followed by digits"));
        }
        let mut is_float = false;
        if self.peek() == Some('.') {
            is_float = true;
            text.push('.');
            self.bump();
            let mut frac_digits = 0usize;
            while let Some(c) = self.peek().filter(char::is_ascii_digit) {
                text.push(c);
                self.bump();
                frac_digits += 1;
            }
            if frac_digits == 0 {
                return Err(self.error_here("a digit must follow the decimal point"));
            }
        }
        if let Some(e @ ('e' | 'E')) = self.peek() {
            is_float = true;
            text.push(e);
            self.bump();
            if let Some(sign @ ('+' | '-')) = self.peek() {
                text.push(sign);
                self.bump();
            }
            let mut exp_digits = 0usize;
            while let Some(c) = self.peek().filter(char::is_ascii_digit) {
                text.push(c);
                self.bump();
                exp_digits += 1;
            }
            if exp_digits == 0 {
                return Err(self.error_here("a digit must follow the exponent"));
            }
        }
        if let Some(c) = self.peek().filter(|c| c.is_alphanumeric() || *c == '_') {
            return Err(self.error_here(format!(
                "unexpected {} in a number (units are not allowed: times are integer µs)",
                describe(c)
            )));
        }
        if is_float {
            return Ok(ValueKind::Float(text));
        }
        text.parse::<i64>().map(ValueKind::Int).map_err(|_| {
            self.error_at(
                pos,
                format!("the number {text} does not fit in a 64-bit signed integer"),
            )
        })
    }

    fn string(&mut self, quote: char) -> Result<String, JsonError> {
        let start = self.pos;
        self.bump();
        let mut out = String::new();
        loop {
            let Some(c) = self.bump() else {
                return Err(self.error_at(
                    start,
                    format!("unterminated string: the {quote} opened here is never closed"),
                ));
            };
            match c {
                c if c == quote => return Ok(out),
                '\n' => {
                    return Err(self.error_at(
                        start,
                        format!(
                            "unterminated string: the {quote} opened here is not closed \
                             before the end of the line"
                        ),
                    ))
                }
                '\\' => {
                    let esc_pos = self.pos;
                    let Some(e) = self.bump() else {
                        return Err(self.error_at(
                            start,
                            format!("unterminated string: the {quote} opened here is never closed"),
                        ));
                    };
                    match e {
                        '"' => out.push('"'),
                        '\'' => out.push('\''),
                        '\\' => out.push('\\'),
                        '/' => out.push('/'),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        'n' => out.push('\n'),
                        'r' => out.push('\r'),
                        't' => out.push('\t'),
                        'u' => out.push(self.unicode_escape(esc_pos)?),
                        other => {
                            return Err(self.error_at(
                                esc_pos,
                                format!("unknown escape '\\{other}' in a string"),
                            ))
                        }
                    }
                }
                c => out.push(c),
            }
        }
    }

    fn hex4(&mut self, esc_pos: Pos) -> Result<u32, JsonError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let digit = self.peek().and_then(|c| c.to_digit(16)).ok_or_else(|| {
                self.error_at(esc_pos, "'\\u' must be followed by four hexadecimal digits")
            })?;
            self.bump();
            v = v * 16 + digit;
        }
        Ok(v)
    }

    fn unicode_escape(&mut self, esc_pos: Pos) -> Result<char, JsonError> {
        let first = self.hex4(esc_pos)?;
        let code = if (0xD800..0xDC00).contains(&first) {
            let lone = || "a '\\u' high surrogate must be followed by a '\\u' low surrogate";
            if self.peek() != Some('\\') {
                return Err(self.error_at(esc_pos, lone()));
            }
            self.bump();
            if self.peek() != Some('u') {
                return Err(self.error_at(esc_pos, lone()));
            }
            self.bump();
            let second = self.hex4(esc_pos)?;
            if !(0xDC00..0xE000).contains(&second) {
                return Err(self.error_at(esc_pos, lone()));
            }
            0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
        } else {
            first
        };
        char::from_u32(code).ok_or_else(|| {
            self.error_at(
                esc_pos,
                format!("'\\u{code:04X}' is not a valid character (lone surrogate)"),
            )
        })
    }

    fn array(&mut self, depth: usize) -> Result<ValueKind, JsonError> {
        let open = self.pos;
        self.bump();
        let mut items = Vec::new();
        loop {
            self.skip_trivia()?;
            match self.peek() {
                Some(']') => {
                    self.bump();
                    items.shrink_to_fit();
                    return Ok(ValueKind::Array(items));
                }
                None => {
                    return Err(self.error_at(open, "unterminated array: '[' has no matching ']'"))
                }
                Some(',') => {
                    return Err(self.error_here(if items.is_empty() {
                        "unexpected ',' at the start of an array"
                    } else {
                        "unexpected ',': two commas in a row"
                    }))
                }
                _ => {}
            }
            items.push(self.value(depth)?);
            self.skip_trivia()?;
            match self.peek() {
                Some(',') => {
                    self.bump();
                }
                Some(']') => {}
                None => {
                    return Err(self.error_at(open, "unterminated array: '[' has no matching ']'"))
                }
                Some(_) => return Err(self.unexpected("',' or ']' in an array")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<ValueKind, JsonError> {
        let open = self.pos;
        self.bump();
        let mut members = Vec::new();
        loop {
            self.skip_trivia()?;
            let key_pos = self.pos;
            let name = match self.peek() {
                Some('}') => {
                    self.bump();
                    // The whole document is alive at once while it is resolved; growth slack
                    // in every object would be most of a big workload's peak memory.
                    members.shrink_to_fit();
                    return Ok(ValueKind::Object(members));
                }
                None => {
                    return Err(self.error_at(open, "unterminated object: '{' has no matching '}'"))
                }
                Some(q @ ('"' | '\'')) => self.string(q)?,
                Some(',') => {
                    return Err(self.error_here(if members.is_empty() {
                        "unexpected ',' at the start of an object"
                    } else {
                        "unexpected ',': two commas in a row"
                    }))
                }
                Some(c) if c.is_alphabetic() || c == '_' => {
                    return Err(self.error_here(format!(
                        "unexpected {}: object keys need double quotes",
                        describe(c)
                    )))
                }
                Some(_) => return Err(self.unexpected("a quoted key or '}'")),
            };
            self.skip_trivia()?;
            match self.peek() {
                Some(':') => {
                    self.bump();
                }
                Some(c @ (',' | '}')) => {
                    // Old rt-app examples write `"suspend",` and rely on the long-gone workgen
                    // preprocessor to fill in a value; say so rather than "expected ':'".
                    return Err(self.error_at(
                        key_pos,
                        format!(
                            "\"{name}\" has no value (found '{c}' where ':' should follow the \
                             key); every key needs a value, e.g. \"{name}\": \"...\""
                        ),
                    ));
                }
                _ => {
                    let found = self.unexpected(&format!("':' after the key \"{name}\""));
                    return Err(found);
                }
            }
            self.skip_trivia()?;
            if matches!(self.peek(), Some(',' | '}')) {
                return Err(self.unexpected(&format!("a value for the key \"{name}\"")));
            }
            let value = self.value(depth)?;
            members.push((Key { name, pos: key_pos }, value));
            self.skip_trivia()?;
            match self.peek() {
                Some(',') => {
                    self.bump();
                }
                Some('}') => {}
                None => {
                    return Err(self.error_at(open, "unterminated object: '{' has no matching '}'"))
                }
                Some(_) => {
                    return Err(
                        self.unexpected("',' or '}' after an object member (missing comma?)")
                    )
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: &Value) -> &[(Key, Value)] {
        v.as_object().expect("object")
    }

    #[test]
    fn keeps_repeated_keys_in_order_with_positions() {
        let v = parse("{\n  \"run\": 1,\n  \"sleep\": 2,\n  \"run\": 3\n}").unwrap();
        let m = obj(&v);
        let names: Vec<_> = m.iter().map(|(k, _)| k.name.as_str()).collect();
        assert_eq!(names, ["run", "sleep", "run"]);
        assert_eq!(m[2].0.pos, Pos { line: 4, col: 3 });
        assert_eq!(m[2].1.pos, Pos { line: 4, col: 10 });
        assert_eq!(m[2].1.as_int(), Some(3));
    }

    #[test]
    fn comments_trailing_commas_single_quotes() {
        let text = "// head\n{ /* a */ 'a' : [1, 2,], \"b\": {\"c\": true,}, // tail\n }";
        let v = parse(text).unwrap();
        let m = obj(&v);
        assert_eq!(m.len(), 2);
        match &m[0].1.kind {
            ValueKind::Array(items) => assert_eq!(items.len(), 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ints_and_floats_are_distinct() {
        let v = parse("[0, -12, 1.5, 2e3, 9223372036854775807]").unwrap();
        let ValueKind::Array(items) = v.kind else {
            panic!()
        };
        assert_eq!(items[0].kind, ValueKind::Int(0));
        assert_eq!(items[1].kind, ValueKind::Int(-12));
        assert_eq!(items[2].kind, ValueKind::Float("1.5".into()));
        assert_eq!(items[3].kind, ValueKind::Float("2e3".into()));
        assert_eq!(items[4].kind, ValueKind::Int(i64::MAX));
        let e = parse("[9223372036854775808]").unwrap_err();
        assert!(e.message.contains("64-bit"), "{e}");
    }

    #[test]
    fn string_escapes() {
        let v = parse(r#""a\"b\\c\/d\n\u00e9\ud83d\ude00""#).unwrap();
        assert_eq!(v.as_str(), Some("a\"b\\c/d\né😀"));
        assert!(parse(r#""\ud83d""#).is_err());
        assert!(parse(r#""\q""#).is_err());
    }

    #[test]
    fn errors_carry_positions() {
        let e = parse("{\n  \"a\": \"open\n}").unwrap_err();
        assert_eq!(e.pos, Pos { line: 2, col: 8 });
        assert!(e.message.contains("unterminated string"), "{e}");

        let e = parse("{ /* never closed").unwrap_err();
        assert_eq!(e.pos, Pos { line: 1, col: 3 });
        assert!(e.message.contains("unterminated comment"), "{e}");

        let e = parse("{\n\t\"suspend\",\n\t\"run\": 1\n}").unwrap_err();
        assert_eq!(e.pos, Pos { line: 2, col: 2 });
        assert!(e.message.contains("\"suspend\" has no value"), "{e}");

        let e = parse("{\"a\" 1}").unwrap_err();
        assert!(e.message.contains("':' after the key \"a\""), "{e}");

        let e = parse("{\"a\": 1 \"b\": 2}").unwrap_err();
        assert_eq!(e.pos, Pos { line: 1, col: 9 });
        assert!(e.message.contains("missing comma"), "{e}");

        let e = parse("[1,,2]").unwrap_err();
        assert!(e.message.contains("two commas"), "{e}");

        let e = parse("{} x").unwrap_err();
        assert!(e.message.contains("after the end"), "{e}");

        let e = parse("  ").unwrap_err();
        assert!(e.message.contains("empty"), "{e}");

        let e = parse("{\"a\": tru}").unwrap_err();
        assert!(e.message.contains("'tru'"), "{e}");

        let e = parse("{\"run\": 10ms}").unwrap_err();
        assert!(e.message.contains("units"), "{e}");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let text = "[".repeat(100_000);
        let e = parse(&text).unwrap_err();
        assert!(e.message.contains("nesting"), "{e}");
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(&ok).is_ok());
    }
}
