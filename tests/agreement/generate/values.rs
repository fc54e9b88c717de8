//! Strategies for scalars (numbers in many spellings, hard strings, object keys), their
//! variants, and whole documents.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::BoxedStrategy;

use super::doc::{Doc, Escape, Num, Text};

/// Numbers that tell exact decimal comparison from floating point: 2^64 and its
/// neighbour, integers past 2^53, 0.1 against 0.10000000000000001, 1e400, 1.5.
const SPECIAL_NUMBERS: [(&str, i64); 15] = [
    ("18446744073709551616", 0),
    ("18446744073709551615", 0),
    ("12345678901234567890", 0),
    ("12345678901234567891", 0),
    ("9007199254740993", 0),
    ("9007199254740992", 0),
    ("1", -1),
    ("10000000000000001", -17),
    ("1", 400),
    ("15", -1),
    ("1", 2),
    ("1", -20),
    ("5", 0),
    ("0", -3),
    ("1", 0),
];

fn spelling() -> impl Strategy<Value = (u8, u8, u8)> {
    (0u8..3, 0u8..6, 0u8..5)
}

pub fn make_num(negative: bool, (digits, exponent): (String, i64), spelling: (u8, u8, u8)) -> Num {
    let trimmed = digits.trim_start_matches('0');
    Num {
        negative,
        digits: if trimmed.is_empty() { "0" } else { trimmed }.to_string(),
        exponent,
        zeros: spelling.0,
        point: spelling.1,
        style: spelling.2,
    }
}

/// A number valid for PostgreSQL, in one of many spellings.
fn number() -> BoxedStrategy<Num> {
    let magnitude = prop_oneof![
        4 => (0u32..=20).prop_map(|n| (n.to_string(), 0i64)),
        3 => select(&SPECIAL_NUMBERS[..]).prop_map(|(d, e)| (d.to_string(), e)),
        3 => ("[1-9][0-9]{0,24}", -30i64..30),
    ];
    (prop::bool::weighted(0.2), magnitude, spelling())
        .prop_map(|(negative, magnitude, spelling)| make_num(negative, magnitude, spelling))
        .boxed()
}

/// Any number, also out of `numeric`'s range: exponents near the scale limit (16383),
/// the integer-digit limit (131072), PostgreSQL's exponent limit (`INT_MAX / 2`) and past
/// `i64`.
pub fn any_number() -> BoxedStrategy<Num> {
    let exponent = prop_oneof![
        2 => -30i64..30,
        1 => -16_400i64..-16_370,
        1 => 131_040i64..131_080,
        1 => select(vec![
            1_073_741_822i64,
            1_073_741_823,
            1_073_741_824,
            -1_073_741_822,
            -1_073_741_823,
            -1_073_741_824,
            i64::MAX / 10,
            i64::MIN / 10,
        ]),
    ];
    let digits = prop_oneof![
        Just("0".to_string()),
        "[1-9][0-9]{0,20}",
        select(&SPECIAL_NUMBERS[..]).prop_map(|(d, _)| d.to_string()),
    ];
    prop_oneof![
        1 => number(),
        2 => (prop::bool::weighted(0.2), (digits, exponent), spelling())
            .prop_map(|(negative, magnitude, spelling)| make_num(negative, magnitude, spelling)),
    ]
    .boxed()
}

/// Characters that make strings hard: quotes, backslashes, slashes, control characters,
/// case pairs, precomposed and combining accents, characters whose case mapping changes
/// length, emoji beyond the BMP, line separators, a byte-order mark.
pub const CHARS: [char; 28] = [
    'a',
    'b',
    'A',
    'B',
    'z',
    '0',
    ' ',
    '"',
    '\\',
    '/',
    '\n',
    '\t',
    '\u{1}',
    '\u{1f}',
    '\u{7f}',
    'é',
    'e',
    '\u{301}',
    'ß',
    'İ',
    'K',
    '\u{212a}',
    '😀',
    '\u{10ffff}',
    '\u{2028}',
    '\u{feff}',
    '中',
    '\u{8}',
];

const WORDS: [&str; 14] = [
    "", "a", "A", "tea", "Tea", "tag", "tags", "é", "e\u{301}", "\"", "\\", "😀", "true", "1",
];

pub fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        select(&WORDS[..]).prop_map(str::to_string),
        vec(select(&CHARS[..]), 0..6).prop_map(|cs| cs.into_iter().collect()),
    ]
}

fn escape() -> impl Strategy<Value = Escape> {
    prop_oneof![
        6 => Just(Escape::Plain),
        1 => Just(Escape::NonAscii),
        1 => Just(Escape::All),
    ]
}

fn text() -> impl Strategy<Value = Text> {
    (string(), escape()).prop_map(|(value, escape)| Text { value, escape })
}

const KEYS: [&str; 16] = [
    "a", "A", "b", "B", "ab", "aB", "Ab", "", "é", "e\u{301}", "tag", "tags", "Tags", "k\"", "a ",
    "😀",
];

/// Object keys: mostly from a small pool (so that keys collide, repeat and differ only
/// in case or one byte), sometimes any string.
pub fn key() -> impl Strategy<Value = Text> {
    let value = prop_oneof![
        4 => select(&KEYS[..]).prop_map(str::to_string),
        1 => string(),
    ];
    (value, escape()).prop_map(|(value, escape)| Text { value, escape })
}

/// A string of the same length class that differs in the case of one letter.
pub fn toggle_case(s: &str) -> String {
    let mut out = String::new();
    let mut done = false;
    for c in s.chars() {
        if !done && c.is_ascii_alphabetic() {
            out.push(if c.is_ascii_lowercase() {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            });
            done = true;
        } else {
            out.push(c);
        }
    }
    if !done {
        out.push('A');
    }
    out
}

/// A string that differs in one byte (or one character) at the end.
pub fn change_last(s: &str) -> String {
    let mut out: Vec<char> = s.chars().collect();
    match out.pop() {
        Some(c) if c.is_ascii_alphanumeric() => out.push(char::from(c as u8 ^ 1)),
        Some('é') => out.push('è'),
        Some(_) => {}
        None => out.push('a'),
    }
    out.into_iter().collect()
}

/// Precomposed accents decomposed and the other way round: different bytes, same look.
fn swap_normal_form(s: &str) -> String {
    if s.contains('é') {
        s.replace('é', "e\u{301}")
    } else if s.contains("e\u{301}") {
        s.replace("e\u{301}", "é")
    } else {
        format!("{s}\u{301}")
    }
}

/// The same string under another escape, or a string that differs slightly.
pub fn text_variant(text: &Text) -> BoxedStrategy<Text> {
    let same = text.value.clone();
    let changed = |f: fn(&str) -> String| {
        let value = f(&text.value);
        escape().prop_map(move |escape| Text {
            value: value.clone(),
            escape,
        })
    };
    prop_oneof![
        escape().prop_map(move |escape| Text {
            value: same.clone(),
            escape
        }),
        changed(toggle_case),
        changed(change_last),
        changed(swap_normal_form),
        changed(|s| format!("{s} ")),
    ]
    .boxed()
}

/// The same number spelled otherwise, or a number that differs: by 1 in the last
/// digit, at the 17th significant digit (equal as `f64`), in sign (`-0` equals `0`), by
/// a power of ten; or `true`/`false` for 1/0.
fn number_variant(num: &Num) -> BoxedStrategy<Doc> {
    let respelled = {
        let num = num.clone();
        spelling().prop_map(move |(zeros, point, style)| {
            Doc::Num(Num {
                zeros,
                point,
                style,
                ..num.clone()
            })
        })
    };
    let tiny = {
        let digits = format!("{}{}1", num.digits, "0".repeat(15));
        make_num(num.negative, (digits, num.exponent - 16), (0, 0, 0))
    };
    let bumped = {
        let mut digits: Vec<u8> = num.digits.bytes().collect();
        if let Some(last) = digits.last_mut() {
            *last = if *last == b'9' { b'0' } else { *last + 1 };
        }
        let digits = String::from_utf8(digits).unwrap_or_default();
        make_num(num.negative, (digits, num.exponent), (0, 0, 0))
    };
    let negated = Num {
        negative: !num.negative,
        ..num.clone()
    };
    let scaled = Num {
        exponent: num.exponent + 1,
        ..num.clone()
    };
    let as_bool = match (num.digits.as_str(), num.exponent) {
        ("1", 0) => Doc::Bool(true),
        ("0", _) => Doc::Bool(false),
        _ => Doc::Bool(true),
    };
    prop_oneof![
        3 => respelled,
        2 => Just(Doc::Num(tiny)),
        1 => Just(Doc::Num(bumped)),
        1 => Just(Doc::Num(negated)),
        1 => Just(Doc::Num(scaled)),
        1 => Just(as_bool),
    ]
    .boxed()
}

/// A scalar that is the same (respelled) or slightly different, or of another type.
pub fn scalar_variant(doc: &Doc) -> BoxedStrategy<Doc> {
    let one = || make_num(false, ("1".to_string(), 0), (0, 0, 0));
    let zero = || make_num(false, ("0".to_string(), 0), (0, 0, 0));
    match doc {
        Doc::Null => prop_oneof![
            Just(Doc::Bool(false)),
            Just(Doc::Num(zero())),
            Just(Doc::Str(Text {
                value: "null".into(),
                escape: Escape::Plain
            })),
        ]
        .boxed(),
        Doc::Bool(b) => {
            let b = *b;
            prop_oneof![
                Just(Doc::Bool(!b)),
                Just(Doc::Num(if b { one() } else { zero() })),
                Just(Doc::Str(Text {
                    value: b.to_string(),
                    escape: Escape::Plain
                })),
            ]
            .boxed()
        }
        Doc::Num(n) => number_variant(n),
        Doc::Str(s) => text_variant(s).prop_map(Doc::Str).boxed(),
        Doc::Arr(_) | Doc::Obj(_) => Just(doc.clone()).boxed(),
    }
}

/// A scalar.
pub fn leaf() -> BoxedStrategy<Doc> {
    prop_oneof![
        1 => Just(Doc::Null),
        2 => any::<bool>().prop_map(Doc::Bool),
        4 => number().prop_map(Doc::Num),
        4 => text().prop_map(Doc::Str),
    ]
    .boxed()
}

/// Any JSON document up to four levels deep: scalars, arrays (of arrays, of objects),
/// objects, empty containers.
pub fn doc() -> BoxedStrategy<Doc> {
    leaf()
        .prop_recursive(4, 32, 5, |inner| {
            prop_oneof![
                vec(inner.clone(), 0..5).prop_map(Doc::Arr),
                vec((key(), inner), 0..5).prop_map(Doc::Obj),
            ]
        })
        .boxed()
}

/// A JSON object with any content (metadata, filters).
pub fn object() -> BoxedStrategy<Doc> {
    vec((key(), doc()), 0..6).prop_map(Doc::Obj).boxed()
}
