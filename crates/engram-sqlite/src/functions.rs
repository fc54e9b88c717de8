//! The SQL functions engram registers on every SQLite connection.

use std::sync::Arc;

use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::ValueRef;
use rusqlite::Connection;
use serde_json::Value;

use engram_core::containment::contains;

/// `engram_json_contains(document TEXT, filter TEXT) -> INTEGER`: 1 when the JSON document
/// contains the filter by PostgreSQL's `@>` rules, 0 when not, NULL when either is NULL.
pub const CONTAINS_FUNCTION: &str = "engram_json_contains";

/// Registers engram's SQL functions ([`CONTAINS_FUNCTION`]) on `conn`. The store does this on
/// every pooled connection; call it on a connection of your own to run engram's containment
/// test in hand-written SQL.
///
/// ```
/// let conn = rusqlite::Connection::open_in_memory().unwrap();
/// engram_sqlite::register_functions(&conn).unwrap();
/// let hit: bool = conn
///     .query_row("SELECT engram_json_contains(?1, ?2)", [r#"[{"a":1,"b":2}]"#, r#"[{"a":1}]"#], |r| r.get(0))
///     .unwrap();
/// assert!(hit);
/// ```
pub fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    conn.create_scalar_function(
        CONTAINS_FUNCTION,
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        json_contains,
    )
}

fn json_contains(ctx: &Context<'_>) -> rusqlite::Result<Option<bool>> {
    if matches!(ctx.get_raw(0), ValueRef::Null) || matches!(ctx.get_raw(1), ValueRef::Null) {
        return Ok(None);
    }
    // The filter is the same for every row of a statement: parse it once.
    let filter: Arc<Value> = ctx.get_or_create_aux(1, parse_json)?;
    let text = json_text(ctx.get_raw(0)).map_err(user_error)?;
    // Most documents are answered from their text without building a `Value`; the rest
    // (and every document the fast path is unsure of) go through serde_json and the matcher.
    if let Some(hit) = tape::contains(text, &filter) {
        return Ok(Some(hit));
    }
    let document = parse_text(text).map_err(user_error)?;
    Ok(Some(contains(&document, &filter)))
}

fn user_error(message: String) -> rusqlite::Error {
    rusqlite::Error::UserFunctionError(message.into())
}

fn json_text(raw: ValueRef<'_>) -> Result<&str, String> {
    raw.as_str()
        .map_err(|e| format!("{CONTAINS_FUNCTION} expects JSON text: {e}"))
}

fn parse_text(text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| format!("{CONTAINS_FUNCTION}: invalid JSON: {e}"))
}

fn parse_json(raw: ValueRef<'_>) -> Result<Value, String> {
    parse_text(json_text(raw)?)
}

/// `document @> filter` computed on the document's text, without allocating a `Value` per
/// document: one pass checks the text and records its structure on a flat tape, then the
/// matcher walks the tape, looking only at the parts the filter names.
///
/// It answers only for documents it is sure serde_json reads to the same value: strict JSON,
/// at most [`MAX_DEPTH`] levels deep, no key starting with `$` (serde_json's arbitrary
/// precision reads `{"$serde_json::private::Number": "1"}` as a number) and no `\u` escape of
/// a surrogate. For anything else, including every malformed document, it returns `None` and
/// the caller parses with serde_json, which gives the answer or the error it always gave.
/// The rules are [`engram_core::containment`]'s, step for step.
mod tape {
    use engram_core::document::numbers_equal;
    use serde_json::{Map, Number, Value};

    /// Deepest nesting the fast path reads (serde_json's own limit is 127).
    const MAX_DEPTH: usize = 64;

    #[derive(Clone, Copy, Debug)]
    enum Node {
        Null,
        Bool(bool),
        /// The number's text.
        Number {
            start: u32,
            end: u32,
        },
        /// The string's text between the quotes, with escapes still in when `escaped`.
        String {
            start: u32,
            end: u32,
            escaped: bool,
        },
        /// Followed by its entries (key string node, then the value's nodes); `end` is the
        /// index of the first node after the object.
        Object {
            end: u32,
        },
        /// Followed by its items' nodes; `end` as for objects.
        Array {
            end: u32,
        },
    }

    /// `Some(document @> filter)`, or `None` when the document is not one the fast path reads.
    pub(super) fn contains(document: &str, filter: &Value) -> Option<bool> {
        let tape = Parser::parse(document)?;
        let doc = Doc {
            text: document,
            tape: &tape,
        };
        doc.top_contains(0, filter)
    }

    fn is_scalar(value: &Value) -> bool {
        !matches!(value, Value::Array(_) | Value::Object(_))
    }

    struct Doc<'a> {
        text: &'a str,
        tape: &'a [Node],
    }

    impl Doc<'_> {
        /// The index after the value at `i`.
        fn skip(&self, i: usize) -> usize {
            match self.tape[i] {
                Node::Object { end } | Node::Array { end } => end as usize,
                _ => i + 1,
            }
        }

        fn is_container(&self, i: usize) -> bool {
            matches!(self.tape[i], Node::Object { .. } | Node::Array { .. })
        }

        /// `containment::contains`: the top level, where an array contains its scalars.
        fn top_contains(&self, i: usize, right: &Value) -> Option<bool> {
            match (self.tape[i], right) {
                (Node::Object { end }, Value::Object(r)) => self.object_contains(i, end, r),
                (Node::Array { end }, Value::Array(r)) => self.array_contains(i, end, r),
                (Node::Array { end }, r) if is_scalar(r) => {
                    let mut k = i + 1;
                    while k < end as usize {
                        if self.scalars_equal(k, r)? {
                            return Some(true);
                        }
                        k = self.skip(k);
                    }
                    Some(false)
                }
                (_, r) => self.scalars_equal(i, r),
            }
        }

        /// `containment::nested_contains`.
        fn nested_contains(&self, i: usize, right: &Value) -> Option<bool> {
            match (self.tape[i], right) {
                (Node::Object { end }, Value::Object(r)) => self.object_contains(i, end, r),
                (Node::Array { end }, Value::Array(r)) => self.array_contains(i, end, r),
                (_, r) => self.scalars_equal(i, r),
            }
        }

        /// Every key of `right` is on the left with a contained value. A key given twice
        /// counts with its last value, as serde_json and PostgreSQL keep it.
        fn object_contains(&self, i: usize, end: u32, right: &Map<String, Value>) -> Option<bool> {
            for (key, r) in right {
                let mut found = None;
                let mut k = i + 1;
                while k < end as usize {
                    let value = k + 1;
                    if self.string_equals(k, key)? {
                        found = Some(value);
                    }
                    k = self.skip(value);
                }
                match found {
                    Some(value) if self.nested_contains(value, r)? => {}
                    _ => return Some(false),
                }
            }
            Some(true)
        }

        /// Every scalar on the right equals a scalar item on the left, every container on
        /// the right is contained by a container item on the left.
        fn array_contains(&self, i: usize, end: u32, right: &[Value]) -> Option<bool> {
            for r in right {
                let scalar = is_scalar(r);
                let mut hit = false;
                let mut k = i + 1;
                while k < end as usize {
                    hit = if scalar {
                        self.scalars_equal(k, r)?
                    } else {
                        self.is_container(k) && self.nested_contains(k, r)?
                    };
                    if hit {
                        break;
                    }
                    k = self.skip(k);
                }
                if !hit {
                    return Some(false);
                }
            }
            Some(true)
        }

        /// `containment::scalars_equal`: same type and value; containers are never equal.
        fn scalars_equal(&self, i: usize, right: &Value) -> Option<bool> {
            Some(match (self.tape[i], right) {
                (Node::Null, Value::Null) => true,
                (Node::Bool(l), Value::Bool(r)) => l == *r,
                (Node::String { .. }, Value::String(r)) => self.string_equals(i, r)?,
                (Node::Number { start, end }, Value::Number(r)) => {
                    let left: Number = self.text[start as usize..end as usize].parse().ok()?;
                    numbers_equal(&left, r)
                }
                _ => false,
            })
        }

        /// Whether the string node at `i` is `right`, byte for byte.
        fn string_equals(&self, i: usize, right: &str) -> Option<bool> {
            let Node::String {
                start,
                end,
                escaped,
            } = self.tape[i]
            else {
                return None;
            };
            let raw = &self.text[start as usize..end as usize];
            Some(if escaped {
                unescape(raw)? == right
            } else {
                raw == right
            })
        }
    }

    /// The text of a string whose escapes [`Parser`] checked.
    fn unescape(raw: &str) -> Option<String> {
        let mut out = String::with_capacity(raw.len());
        let mut rest = raw;
        while let Some(at) = rest.find('\\') {
            out.push_str(&rest[..at]);
            let escape = rest.as_bytes().get(at + 1)?;
            let (ch, len) = match escape {
                b'"' => ('"', 2),
                b'\\' => ('\\', 2),
                b'/' => ('/', 2),
                b'b' => ('\u{8}', 2),
                b'f' => ('\u{c}', 2),
                b'n' => ('\n', 2),
                b'r' => ('\r', 2),
                b't' => ('\t', 2),
                b'u' => (
                    char::from_u32(hex4(rest.as_bytes().get(at + 2..at + 6)?)?)?,
                    6,
                ),
                _ => return None,
            };
            out.push(ch);
            rest = rest.get(at + len..)?;
        }
        out.push_str(rest);
        Some(out)
    }

    fn hex4(digits: &[u8]) -> Option<u32> {
        digits.iter().try_fold(0u32, |acc, &d| {
            let value = (d as char).to_digit(16)?;
            Some(acc * 16 + value)
        })
    }

    /// Checks strict JSON (RFC 8259, as serde_json reads it) while recording the tape.
    struct Parser<'a> {
        bytes: &'a [u8],
        pos: usize,
        depth: usize,
        tape: Vec<Node>,
    }

    impl<'a> Parser<'a> {
        fn parse(text: &'a str) -> Option<Vec<Node>> {
            u32::try_from(text.len()).ok()?;
            let mut parser = Parser {
                bytes: text.as_bytes(),
                pos: 0,
                depth: 0,
                tape: Vec::with_capacity(64),
            };
            parser.whitespace();
            parser.value()?;
            parser.whitespace();
            (parser.pos == parser.bytes.len()).then_some(parser.tape)
        }

        fn peek(&self) -> Option<u8> {
            self.bytes.get(self.pos).copied()
        }

        fn whitespace(&mut self) {
            while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
                self.pos += 1;
            }
        }

        fn value(&mut self) -> Option<()> {
            match self.peek()? {
                b'{' => self.object(),
                b'[' => self.array(),
                b'"' => {
                    let node = self.string()?;
                    self.tape.push(node);
                    Some(())
                }
                b't' => self.literal(b"true", Node::Bool(true)),
                b'f' => self.literal(b"false", Node::Bool(false)),
                b'n' => self.literal(b"null", Node::Null),
                b'-' | b'0'..=b'9' => self.number(),
                _ => None,
            }
        }

        fn literal(&mut self, word: &[u8], node: Node) -> Option<()> {
            if self.bytes.get(self.pos..self.pos + word.len())? != word {
                return None;
            }
            self.pos += word.len();
            self.tape.push(node);
            Some(())
        }

        fn digits(&mut self) -> usize {
            let start = self.pos;
            while let Some(b'0'..=b'9') = self.peek() {
                self.pos += 1;
            }
            self.pos - start
        }

        /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
        fn number(&mut self) -> Option<()> {
            let start = self.pos;
            if self.peek() == Some(b'-') {
                self.pos += 1;
            }
            match self.peek()? {
                b'0' => self.pos += 1,
                b'1'..=b'9' => {
                    self.digits();
                }
                _ => return None,
            }
            if self.peek() == Some(b'.') {
                self.pos += 1;
                if self.digits() == 0 {
                    return None;
                }
            }
            if let Some(b'e' | b'E') = self.peek() {
                self.pos += 1;
                if let Some(b'+' | b'-') = self.peek() {
                    self.pos += 1;
                }
                if self.digits() == 0 {
                    return None;
                }
            }
            self.tape.push(Node::Number {
                start: start as u32,
                end: self.pos as u32,
            });
            Some(())
        }

        /// A string starting at the current `"`; control characters and `\u` escapes of
        /// surrogates are left to serde_json.
        fn string(&mut self) -> Option<Node> {
            self.pos += 1;
            let start = self.pos;
            let mut escaped = false;
            loop {
                match self.peek()? {
                    b'"' => break,
                    b'\\' => {
                        escaped = true;
                        match *self.bytes.get(self.pos + 1)? {
                            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {
                                self.pos += 2;
                            }
                            b'u' => {
                                let code = hex4(self.bytes.get(self.pos + 2..self.pos + 6)?)?;
                                if (0xD800..=0xDFFF).contains(&code) {
                                    return None;
                                }
                                self.pos += 6;
                            }
                            _ => return None,
                        }
                    }
                    0x00..=0x1F => return None,
                    _ => self.pos += 1,
                }
            }
            let end = self.pos;
            self.pos += 1;
            Some(Node::String {
                start: start as u32,
                end: end as u32,
                escaped,
            })
        }

        fn enter(&mut self) -> Option<()> {
            self.depth += 1;
            (self.depth <= MAX_DEPTH).then_some(())
        }

        fn object(&mut self) -> Option<()> {
            self.enter()?;
            let at = self.tape.len();
            self.tape.push(Node::Object { end: 0 });
            self.pos += 1;
            self.whitespace();
            if self.peek()? == b'}' {
                self.pos += 1;
            } else {
                loop {
                    if self.peek()? != b'"' {
                        return None;
                    }
                    let key = self.string()?;
                    if self.is_reserved_key(key)? {
                        return None;
                    }
                    self.tape.push(key);
                    self.whitespace();
                    if self.peek()? != b':' {
                        return None;
                    }
                    self.pos += 1;
                    self.whitespace();
                    self.value()?;
                    if !self.more_elements(b'}')? {
                        break;
                    }
                }
            }
            self.tape[at] = Node::Object {
                end: self.tape.len() as u32,
            };
            self.depth -= 1;
            Some(())
        }

        /// Keys starting with `$`, which serde_json may read as something else than an
        /// object entry.
        fn is_reserved_key(&self, key: Node) -> Option<bool> {
            let Node::String {
                start,
                end,
                escaped,
            } = key
            else {
                return None;
            };
            let raw = &self.bytes[start as usize..end as usize];
            if escaped {
                let text = std::str::from_utf8(raw).ok()?;
                Some(unescape(text)?.starts_with('$'))
            } else {
                Some(raw.first() == Some(&b'$'))
            }
        }

        /// After an element: `true` past a `,` (another element follows), `false` past
        /// `close` (the container ends), `None` on anything else.
        fn more_elements(&mut self, close: u8) -> Option<bool> {
            self.whitespace();
            let next = self.peek()?;
            self.pos += 1;
            if next == b',' {
                self.whitespace();
                Some(true)
            } else if next == close {
                Some(false)
            } else {
                None
            }
        }

        fn array(&mut self) -> Option<()> {
            self.enter()?;
            let at = self.tape.len();
            self.tape.push(Node::Array { end: 0 });
            self.pos += 1;
            self.whitespace();
            if self.peek()? == b']' {
                self.pos += 1;
            } else {
                loop {
                    self.value()?;
                    if !self.more_elements(b']')? {
                        break;
                    }
                }
            }
            self.tape[at] = Node::Array {
                end: self.tape.len() as u32,
            };
            self.depth -= 1;
            Some(())
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use engram_core::containment::{self, PINNED_CASES};

        /// The fast path's answer, checked against serde_json and the matcher: when it
        /// answers, serde_json must read the document and the matcher agree.
        fn check(document: &str, filter: &Value) -> Option<bool> {
            let fast = contains(document, filter);
            if let Some(hit) = fast {
                let parsed: Value = serde_json::from_str(document)
                    .unwrap_or_else(|e| panic!("fast path read {document:?}, serde_json: {e}"));
                assert_eq!(
                    hit,
                    containment::contains(&parsed, filter),
                    "{document} @> {filter}"
                );
            }
            fast
        }

        fn json(text: &str) -> Value {
            serde_json::from_str(text).unwrap()
        }

        #[test]
        fn pinned_cases_agree_with_the_matcher() {
            let cases = PINNED_CASES.iter().copied().chain([
                (r#"{"a":1,"a":2}"#, r#"{"a":2}"#, true),
                (r#"{"a":1,"a":2}"#, r#"{"a":1}"#, false),
                (r#"{"k\"ey":"v\\al\n"}"#, r#"{"k\"ey":"v\\al\n"}"#, true),
                (
                    r#"{"caf\u00e9":"\u00e9t\u00E9"}"#,
                    r#"{"café":"été"}"#,
                    true,
                ),
                (r#"{"a":"\/"}"#, r#"{"a":"/"}"#, true),
                (" {\n\t\"a\" :\r [ 1 , 2 ] } ", r#"{"a":[2]}"#, true),
                (
                    r#"{"flags":{"rare":true,"common":false}}"#,
                    r#"{"flags":{"rare":true}}"#,
                    true,
                ),
                (
                    r#"{"flags":{"rare":false}}"#,
                    r#"{"flags":{"rare":true}}"#,
                    false,
                ),
                (r#"{"n":-1.5E+3}"#, r#"{"n":-1500}"#, true),
                (r#"{"n":1E400}"#, r#"{"n":1e400}"#, true),
            ]);
            for (left, right, expected) in cases {
                let got = check(left, &json(right));
                assert_eq!(got, Some(expected), "{left} @> {right}");
            }
        }

        #[test]
        fn documents_it_does_not_read_are_left_to_serde_json() {
            let filter = json(r#"{"a":1}"#);
            for document in [
                "",
                " ",
                "{",
                r#"{"a":1,}"#,
                "[1,]",
                "[1 2]",
                r#"{"a" 1}"#,
                r#"{"a":1}}"#,
                r#"{"a":1} x"#,
                "01",
                "1.",
                ".5",
                "-",
                "1e",
                "+1",
                "tru",
                "nul",
                "True",
                "NaN",
                "'a'",
                "{a:1}",
                "\u{feff}{}",
                "\"tab\there\"",
                "\"\\x\"",
                "\"\\u12\"",
                "\"\\ud800\"",
                "\"\\udc00\"",
                "\"\\ud83d\\ude00\"",
                r#"{"$serde_json::private::Number":"1"}"#,
                r#"{"$x":1}"#,
                r#"{"\u0024x":1}"#,
                &("[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1)),
                "{\"a\":1}\u{0}",
            ] {
                assert_eq!(check(document, &filter), None, "{document:?}");
            }
            let deepest = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
            assert!(check(&deepest, &json("[]")).is_some());
        }

        /// xorshift64*: deterministic randomness without a dependency.
        struct Rng(u64);

        impl Rng {
            fn next(&mut self) -> u64 {
                self.0 ^= self.0 >> 12;
                self.0 ^= self.0 << 25;
                self.0 ^= self.0 >> 27;
                self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
            }

            fn below(&mut self, n: u64) -> u64 {
                self.next() % n
            }
        }

        const WORDS: [&str; 8] = ["a", "b", "tags", "x\"y", "é", "a\\b", "line\nbreak", ""];
        const NUMBERS: [&str; 12] = [
            "0",
            "-0",
            "1",
            "1.0",
            "1e0",
            "10E-1",
            "2",
            "-2.50",
            "0.1",
            "1e400",
            "123456789012345678901234567890",
            "0.0",
        ];

        /// A random document as JSON text, with random spacing, escapes and spellings.
        fn text(rng: &mut Rng, depth: u32, out: &mut String) {
            let space = |rng: &mut Rng, out: &mut String| {
                if rng.below(4) == 0 {
                    out.push_str([" ", "\n", "\t ", "\r\n"][rng.below(4) as usize]);
                }
            };
            space(rng, out);
            let kind = if depth >= 4 {
                rng.below(4)
            } else {
                rng.below(7)
            };
            match kind {
                0 => out.push_str(["null", "true", "false"][rng.below(3) as usize]),
                1 => out.push_str(NUMBERS[rng.below(NUMBERS.len() as u64) as usize]),
                2 | 3 => string(rng, out),
                4 | 5 => {
                    out.push('{');
                    for i in 0..rng.below(4) {
                        if i > 0 {
                            out.push(',');
                        }
                        space(rng, out);
                        string(rng, out);
                        space(rng, out);
                        out.push(':');
                        text(rng, depth + 1, out);
                    }
                    out.push('}');
                }
                _ => {
                    out.push('[');
                    for i in 0..rng.below(4) {
                        if i > 0 {
                            out.push(',');
                        }
                        text(rng, depth + 1, out);
                    }
                    out.push(']');
                }
            }
            space(rng, out);
        }

        /// A string from [`WORDS`], sometimes spelled with `\u` escapes.
        fn string(rng: &mut Rng, out: &mut String) {
            let word = WORDS[rng.below(WORDS.len() as u64) as usize];
            if rng.below(3) == 0 {
                out.push('"');
                for ch in word.chars() {
                    out.push_str(&format!("\\u{:04x}", ch as u32));
                }
                out.push('"');
            } else {
                out.push_str(&serde_json::to_string(word).unwrap());
            }
        }

        /// Filters that often match: parts of the document, sometimes changed.
        fn filters(rng: &mut Rng, document: &Value, out: &mut Vec<Value>) {
            out.push(document.clone());
            match document {
                Value::Object(map) => {
                    for (key, value) in map {
                        let mut part = Map::new();
                        part.insert(key.clone(), value.clone());
                        out.push(Value::Object(part.clone()));
                        if rng.below(2) == 0 {
                            part.insert(key.clone(), Value::from(rng.below(3)));
                            out.push(Value::Object(part));
                        }
                        filters(rng, value, out);
                    }
                }
                Value::Array(items) => {
                    for item in items {
                        out.push(Value::Array(vec![item.clone()]));
                        out.push(item.clone());
                        filters(rng, item, out);
                    }
                }
                _ => {}
            }
        }

        #[test]
        fn random_documents_agree_with_the_matcher() {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
            let (mut answered, mut total, mut hits) = (0, 0, 0);
            for _ in 0..3_000 {
                let mut document = String::new();
                text(&mut rng, 0, &mut document);
                let parsed: Value = serde_json::from_str(&document).unwrap();
                let mut candidates = Vec::new();
                filters(&mut rng, &parsed, &mut candidates);
                candidates.push(json(r#"{"a":null}"#));
                candidates.push(json("[]"));
                for filter in &candidates {
                    total += 1;
                    if let Some(hit) = check(&document, filter) {
                        answered += 1;
                        hits += usize::from(hit);
                    }
                }
                // The text cut short is never answered (it is malformed or another value).
                for cut in [1, document.len() / 2] {
                    if let Some(prefix) = document.get(..document.len().saturating_sub(cut)) {
                        if serde_json::from_str::<Value>(prefix).is_err() {
                            assert_eq!(contains(prefix, &candidates[0]), None, "{prefix:?}");
                        }
                    }
                }
            }
            // Every generated document is one the fast path reads (no surrogates, no `$`).
            assert_eq!(answered, total);
            assert!(hits > total / 4 && hits < total, "{hits} of {total}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(document: Option<&str>, filter: Option<&str>) -> rusqlite::Result<Option<bool>> {
        let conn = Connection::open_in_memory().unwrap();
        register_functions(&conn).unwrap();
        conn.query_row(
            "SELECT engram_json_contains(?1, ?2)",
            [document, filter],
            |row| row.get(0),
        )
    }

    #[test]
    fn answers_errors_and_nulls_are_as_before_the_fast_path() {
        assert_eq!(
            call(Some(r#"{"a":[1,2]}"#), Some(r#"{"a":[2]}"#)).unwrap(),
            Some(true)
        );
        assert_eq!(
            call(Some(r#"{"a":"\ud83d\ude00"}"#), Some(r#"{"a":"😀"}"#)).unwrap(),
            Some(true)
        );
        assert_eq!(call(None, Some("{}")).unwrap(), None);
        assert_eq!(call(Some("{}"), None).unwrap(), None);
        for malformed in ["{bad", r#"{"a":1,}"#, r#"["\ud800"]"#, "[1] 2"] {
            let err = call(Some(malformed), Some("{}")).unwrap_err();
            assert!(
                err.to_string().contains("invalid JSON"),
                "{malformed}: {err}"
            );
        }
        let conn = Connection::open_in_memory().unwrap();
        register_functions(&conn).unwrap();
        let err = conn
            .query_row("SELECT engram_json_contains(x'7b7d', '{}')", [], |row| {
                row.get::<_, Option<bool>>(0)
            })
            .unwrap_err();
        assert!(err.to_string().contains("expects JSON text"), "{err}");
    }
}
