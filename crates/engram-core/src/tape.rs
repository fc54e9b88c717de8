//! `document @> filter` computed on the document's JSON text, without allocating a `Value`
//! per document: the SQLite backend's fast path for its containment function.
//!
//! One pass checks the text and records its structure on a flat tape, then
//! [`crate::containment`]'s rules (the only copy of them) walk the tape through the same
//! read-only view of a document that they use on a parsed `Value`, looking only at the parts
//! the filter names.
//!
//! It answers only for documents it is sure serde_json reads to the same value: strict JSON,
//! at most [`MAX_DEPTH`] levels deep, no key starting with `$` (serde_json's arbitrary
//! precision reads `{"$serde_json::private::Number": "1"}` as a number) and no `\u` escape of
//! a surrogate. For anything else, including every malformed document, it returns `None` and
//! the caller parses with serde_json, which gives the answer or the error it always gave.

use serde_json::{Number, Value};

use crate::containment::{view_contains, JsonView, Kind};
use crate::document::{numbers_equal, MAX_DEPTH};

/// `Some(document @> filter)` by PostgreSQL's `jsonb @>` rules, or `None` when the document
/// is not one the fast path reads (then parse it with serde_json and use
/// [`crate::containment::contains`]).
///
/// ```
/// use engram_core::tape::contains;
/// use serde_json::json;
/// assert_eq!(contains(r#"{"a": [1, {"b": 2}]}"#, &json!({"a": [{"b": 2}]})), Some(true));
/// assert_eq!(contains(r#"{"a": 1, "a": 2}"#, &json!({"a": 1})), Some(false));
/// assert_eq!(contains("{bad", &json!({})), None);
/// ```
pub fn contains(document: &str, filter: &Value) -> Option<bool> {
    let tape = Parser::parse(document)?;
    let doc = Doc {
        text: document,
        tape: &tape,
    };
    view_contains(Cursor { doc: &doc, at: 0 }, filter).ok()
}

/// One entry of the tape, in document order.
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

/// A document's text and its tape.
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

    /// Whether the string node at `i` is `right`, byte for byte.
    fn string_equals(&self, i: usize, right: &str) -> Result<bool, Unsure> {
        let Node::String {
            start,
            end,
            escaped,
        } = self.tape[i]
        else {
            return Ok(false);
        };
        let raw = &self.text[start as usize..end as usize];
        Ok(if escaped {
            unescape(raw).ok_or(Unsure)? == right
        } else {
            raw == right
        })
    }
}

/// The fast path cannot answer for this document: the caller parses it with serde_json.
struct Unsure;

/// One value on a document's tape, as [`crate::containment`]'s rules see it.
#[derive(Clone, Copy)]
struct Cursor<'a> {
    doc: &'a Doc<'a>,
    at: usize,
}

/// The items of an array on the tape.
struct Items<'a> {
    doc: &'a Doc<'a>,
    next: usize,
    end: usize,
}

impl<'a> Iterator for Items<'a> {
    type Item = Cursor<'a>;

    fn next(&mut self) -> Option<Cursor<'a>> {
        (self.next < self.end).then(|| {
            let at = self.next;
            self.next = self.doc.skip(at);
            Cursor { doc: self.doc, at }
        })
    }
}

impl<'a> JsonView for Cursor<'a> {
    type Error = Unsure;
    type Items = Items<'a>;

    fn kind(self) -> Kind {
        match self.doc.tape[self.at] {
            Node::Null => Kind::Null,
            Node::Bool(b) => Kind::Bool(b),
            Node::Number { .. } => Kind::Number,
            Node::String { .. } => Kind::String,
            Node::Object { .. } => Kind::Object,
            Node::Array { .. } => Kind::Array,
        }
    }

    fn items(self) -> Items<'a> {
        let end = match self.doc.tape[self.at] {
            Node::Array { end } => end as usize,
            _ => self.at + 1,
        };
        Items {
            doc: self.doc,
            next: self.at + 1,
            end,
        }
    }

    fn get(self, key: &str) -> Result<Option<Self>, Unsure> {
        let Node::Object { end } = self.doc.tape[self.at] else {
            return Ok(None);
        };
        let mut found = None;
        let mut k = self.at + 1;
        while k < end as usize {
            let value = k + 1;
            if self.doc.string_equals(k, key)? {
                found = Some(Cursor {
                    doc: self.doc,
                    at: value,
                });
            }
            k = self.doc.skip(value);
        }
        Ok(found)
    }

    fn string_equals(self, right: &str) -> Result<bool, Unsure> {
        self.doc.string_equals(self.at, right)
    }

    fn number_equals(self, right: &Number) -> Result<bool, Unsure> {
        let Node::Number { start, end } = self.doc.tape[self.at] else {
            return Ok(false);
        };
        let left: Number = self.doc.text[start as usize..end as usize]
            .parse()
            .map_err(|_| Unsure)?;
        Ok(numbers_equal(&left, right))
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
    use crate::containment::{self, PINNED_CASES};
    use serde_json::Map;

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
