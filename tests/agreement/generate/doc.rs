//! Generated JSON documents as written: the value and its spelling (escapes, number forms,
//! repeated keys), and their JSON text.

use std::fmt::{self, Write as _};

/// How a string is escaped in the JSON text; the value is the same.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Escape {
    /// Only what JSON requires (quote, backslash, control characters).
    Plain,
    /// Also every non-ASCII character as `\uXXXX` (surrogate pairs above U+FFFF) and
    /// `/` as `\/`.
    NonAscii,
    /// Every character as `\uXXXX`.
    All,
}

/// A string value and how its text escapes it.
#[derive(Clone, PartialEq)]
pub struct Text {
    pub value: String,
    pub escape: Escape,
}

/// A number: the value `digits × 10^exponent` (negative when `negative`, which for zero
/// spells `-0`), and how the text writes it.
#[derive(Clone, PartialEq)]
pub struct Num {
    pub negative: bool,
    /// No leading zeros, or just `0`.
    pub digits: String,
    pub exponent: i64,
    /// Trailing zeros added to the mantissa (with the exponent lowered to match).
    pub zeros: u8,
    /// How many mantissa digits go after the decimal point.
    pub point: u8,
    /// How the exponent is written: 0 none when zero else `e5`, 1 `e5`, 2 `E5`, 3 `e+5`,
    /// 4 `E+05` (a sign and a leading zero).
    pub style: u8,
}

impl Num {
    /// The JSON text of this number.
    pub fn spell(&self) -> String {
        let mut mantissa = self.digits.clone();
        mantissa.extend(std::iter::repeat_n('0', usize::from(self.zeros)));
        let exponent = self.exponent - i64::from(self.zeros);
        let point = usize::from(self.point).min(mantissa.len() + 2);
        let (integer, fraction) = if point >= mantissa.len() {
            (
                "0".to_string(),
                "0".repeat(point - mantissa.len()) + &mantissa,
            )
        } else {
            let (i, f) = mantissa.split_at(mantissa.len() - point);
            let i = i.trim_start_matches('0');
            (
                if i.is_empty() { "0" } else { i }.to_string(),
                f.to_string(),
            )
        };
        let exponent = exponent + point as i64;
        let mut out = String::new();
        if self.negative {
            out.push('-');
        }
        out.push_str(&integer);
        if !fraction.is_empty() {
            out.push('.');
            out.push_str(&fraction);
        }
        let sign = if exponent < 0 { "-" } else { "+" };
        match self.style {
            0 if exponent == 0 => {}
            0 | 1 => write!(out, "e{exponent}").unwrap(),
            2 => write!(out, "E{exponent}").unwrap(),
            3 => write!(out, "e{sign}{}", exponent.unsigned_abs()).unwrap(),
            _ => write!(out, "E{sign}0{}", exponent.unsigned_abs()).unwrap(),
        }
        out
    }
}

impl fmt::Debug for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.spell())
    }
}

/// A JSON document as written. Objects keep their keys in order with repeats (the last
/// one wins, in PostgreSQL and in serde_json). Its `Debug` form is its JSON text.
#[derive(Clone, PartialEq)]
pub enum Doc {
    Null,
    Bool(bool),
    Num(Num),
    Str(Text),
    Arr(Vec<Doc>),
    Obj(Vec<(Text, Doc)>),
}

impl Doc {
    /// The JSON text.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Doc::Null => out.push_str("null"),
            Doc::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Doc::Num(n) => out.push_str(&n.spell()),
            Doc::Str(s) => write_string(s, out),
            Doc::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Doc::Obj(entries) => {
                out.push('{');
                for (i, (key, value)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_string(key, out);
                    out.push(':');
                    value.write(out);
                }
                out.push('}');
            }
        }
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        write_string(self, &mut out);
        f.write_str(&out)
    }
}

impl fmt::Debug for Doc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json())
    }
}

fn write_string(text: &Text, out: &mut String) {
    out.push('"');
    for c in text.value.chars() {
        let escape_unicode = match text.escape {
            Escape::Plain => false,
            Escape::NonAscii => !c.is_ascii(),
            Escape::All => true,
        };
        if escape_unicode {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                if text.escape == Escape::All {
                    write!(out, "\\u{unit:04X}").unwrap();
                } else {
                    write!(out, "\\u{unit:04x}").unwrap();
                }
            }
            continue;
        }
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' if text.escape == Escape::NonAscii => out.push_str("\\/"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            c if u32::from(c) < 0x20 => write!(out, "\\u{:04x}", u32::from(c)).unwrap(),
            c => out.push(c),
        }
    }
    out.push('"');
}
