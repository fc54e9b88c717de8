//! JSON documents as PostgreSQL's `jsonb` sees them: what is rejected, and the canonical
//! form (numbers in `numeric` output form) that both backends store and read back.
//!
//! engram checks and normalizes every document (metadata, filters) here, before it reaches
//! either backend, so that bad input gets the same error everywhere and a document read from
//! SQLite equals the one PostgreSQL returns.

use serde_json::{Map, Number, Value};

use crate::{Error, Result};

/// The deepest nesting of arrays and objects engram accepts (`{"a":{"b":1}}` has depth 2).
///
/// PostgreSQL's own limit depends on its stack size; engram enforces this fixed one on both
/// backends so that the same document is accepted or refused everywhere.
pub const MAX_DEPTH: usize = 64;

/// PostgreSQL's `numeric` input refuses exponents this large or larger (`INT_MAX / 2`).
const EXPONENT_LIMIT: i64 = 1_073_741_823;
/// The most digits after the decimal point PostgreSQL's `numeric` can store.
const MAX_SCALE: i64 = 16383;
/// The most digits before the decimal point PostgreSQL's `numeric` can store.
const MAX_INTEGER_DIGITS: i64 = 131_072;

/// Parses JSON text into a canonical document; `field` names it in errors.
///
/// Rejects what PostgreSQL's `jsonb` input rejects: malformed JSON, lone surrogates,
/// `\u0000`, numbers out of `numeric`'s range, and nesting deeper than [`MAX_DEPTH`].
/// Duplicate keys keep the last value, as in PostgreSQL.
///
/// ```
/// use engram_core::document::parse;
/// let doc = parse(r#"{"n": 1.50e1, "k": 1, "k": 2}"#, "metadata").unwrap();
/// assert_eq!(doc.to_string(), r#"{"k":2,"n":15.0}"#);
/// assert!(parse(r#"{"bad": "\u0000"}"#, "metadata").is_err());
/// assert!(parse(r#"["\ud800"]"#, "metadata").is_err());
/// ```
pub fn parse(text: &str, field: &str) -> Result<Value> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| Error::invalid(field, format!("not valid JSON: {e}")))?;
    normalize(value, field)
}

/// Like [`parse`], and the document must be a JSON object.
pub fn parse_object(text: &str, field: &str) -> Result<Value> {
    let value = parse(text, field)?;
    require_object(&value, field)?;
    Ok(value)
}

/// Checks a document and rewrites it to canonical form: numbers as PostgreSQL's `numeric`
/// prints them. Fails on `\u0000` in a string or key, numbers out of range, or nesting deeper
/// than [`MAX_DEPTH`].
///
/// ```
/// use engram_core::document::normalize;
/// use serde_json::json;
/// let doc: serde_json::Value = serde_json::from_str(r#"[1e2, -0, 1.5e-3]"#).unwrap();
/// assert_eq!(normalize(doc, "filter").unwrap().to_string(), "[100,0,0.0015]");
/// ```
pub fn normalize(value: Value, field: &str) -> Result<Value> {
    normalize_at(value, field, 0)
}

/// Like [`normalize`], and the document must be a JSON object.
pub fn normalize_object(value: Value, field: &str) -> Result<Value> {
    require_object(&value, field)?;
    normalize(value, field)
}

fn require_object(value: &Value, field: &str) -> Result<()> {
    if value.is_object() {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("must be a JSON object, got {}", type_name(value)),
        ))
    }
}

/// The JSON type name of a value, as PostgreSQL's `jsonb_typeof` spells it.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn normalize_at(value: Value, field: &str, depth: usize) -> Result<Value> {
    let nested = |depth: usize| {
        if depth >= MAX_DEPTH {
            Err(Error::invalid(
                field,
                format!("nesting is deeper than engram's limit of {MAX_DEPTH} levels"),
            ))
        } else {
            Ok(depth + 1)
        }
    };
    Ok(match value {
        Value::String(s) => {
            check_json_string(&s, field)?;
            Value::String(s)
        }
        Value::Number(n) => Value::Number(canonical_number(&n, field)?),
        Value::Array(items) => {
            let depth = nested(depth)?;
            Value::Array(
                items
                    .into_iter()
                    .map(|item| normalize_at(item, field, depth))
                    .collect::<Result<_>>()?,
            )
        }
        Value::Object(entries) => {
            let depth = nested(depth)?;
            let mut out = Map::new();
            for (key, item) in entries {
                check_json_string(&key, field)?;
                out.insert(key, normalize_at(item, field, depth)?);
            }
            Value::Object(out)
        }
        scalar => scalar,
    })
}

/// The longest string (key or value) a PostgreSQL `jsonb` document can hold, in bytes.
pub const MAX_STRING_BYTES: usize = (1 << 28) - 1;

fn check_json_string(text: &str, field: &str) -> Result<()> {
    check_text(text, field)?;
    if text.len() > MAX_STRING_BYTES {
        return Err(Error::invalid(
            field,
            format!(
                "a string of {} bytes is longer than the {MAX_STRING_BYTES} bytes PostgreSQL's jsonb allows",
                text.len()
            ),
        ));
    }
    Ok(())
}

/// Rejects text PostgreSQL cannot store: the NUL character.
pub fn check_text(text: &str, field: &str) -> Result<()> {
    if text.contains('\0') {
        Err(Error::invalid(
            field,
            "contains the NUL character (\\u0000), which PostgreSQL cannot store",
        ))
    } else {
        Ok(())
    }
}

/// A JSON number split into sign, digits and the position of the decimal point.
struct Decimal<'a> {
    negative: bool,
    integer: &'a str,
    fraction: &'a str,
    exponent: i64,
}

impl<'a> Decimal<'a> {
    /// Splits JSON number text (`-12.50e+3`). Exponents too large for `i64` saturate.
    fn split(text: &'a str) -> Option<Self> {
        let (negative, rest) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (mantissa, exponent) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], parse_exponent(&rest[i + 1..])?),
            None => (rest, 0),
        };
        let (integer, fraction) = match mantissa.find('.') {
            Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
            None => (mantissa, ""),
        };
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if integer.is_empty() || !all_digits(integer) || !all_digits(fraction) {
            return None;
        }
        Some(Decimal {
            negative,
            integer,
            fraction,
            exponent,
        })
    }

    /// The value as (is negative, significant digits, exponent of the last digit), the same
    /// for every spelling of one number; zero is `(false, "", 0)`.
    fn value_key(&self) -> (bool, String, i64) {
        let digits: String = [self.integer, self.fraction].concat();
        let significant = digits.trim_start_matches('0');
        let trimmed = significant.trim_end_matches('0');
        if trimmed.is_empty() {
            return (false, String::new(), 0);
        }
        let trailing = (significant.len() - trimmed.len()) as i64;
        let exponent = self
            .exponent
            .saturating_sub(self.fraction.len() as i64)
            .saturating_add(trailing);
        (self.negative, trimmed.to_string(), exponent)
    }
}

fn parse_exponent(text: &str) -> Option<i64> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let magnitude = digits
        .bytes()
        .try_fold(0i64, |acc, b| {
            acc.checked_mul(10)?.checked_add(i64::from(b - b'0'))
        })
        .unwrap_or(i64::MAX);
    Some(if negative { -magnitude } else { magnitude })
}

/// Rewrites a JSON number as PostgreSQL's `numeric` prints it: no exponent, as many
/// fraction digits as were written (less the exponent), no sign on zero.
///
/// ```
/// use engram_core::document::canonical_number;
/// let canon = |s: &str| canonical_number(&s.parse().unwrap(), "n").unwrap().to_string();
/// assert_eq!(canon("1e2"), "100");
/// assert_eq!(canon("1.50e1"), "15.0");
/// assert_eq!(canon("1.5e-3"), "0.0015");
/// assert_eq!(canon("-0"), "0");
/// assert_eq!(canon("-0.00"), "0.00");
/// ```
pub fn canonical_number(number: &Number, field: &str) -> Result<Number> {
    let text = number.to_string();
    let out_of_range = || {
        Error::invalid(
            field,
            format!("the number {text} is out of the range PostgreSQL's numeric can store"),
        )
    };
    let decimal = Decimal::split(&text)
        .ok_or_else(|| Error::invalid(field, format!("'{text}' is not a JSON number")))?;
    if decimal.exponent.abs() >= EXPONENT_LIMIT {
        return Err(out_of_range());
    }
    let scale = (decimal.fraction.len() as i64 - decimal.exponent).max(0);
    if scale > MAX_SCALE {
        return Err(out_of_range());
    }
    let digits: String = [decimal.integer, decimal.fraction].concat();
    let significant = digits.trim_start_matches('0');
    // Position of the decimal point counted from the first significant digit.
    let point =
        decimal.integer.len() as i64 + decimal.exponent - (digits.len() - significant.len()) as i64;
    let mut out = String::with_capacity(significant.len() + 4);
    if significant.is_empty() {
        out.push('0');
    } else {
        if point > MAX_INTEGER_DIGITS {
            return Err(out_of_range());
        }
        if decimal.negative {
            out.push('-');
        }
        if point <= 0 {
            out.push('0');
        } else if point as usize >= significant.len() {
            out.push_str(significant);
            out.extend(std::iter::repeat_n('0', point as usize - significant.len()));
        } else {
            out.push_str(&significant[..point as usize]);
        }
    }
    if scale > 0 {
        out.push('.');
        if significant.is_empty() {
            out.extend(std::iter::repeat_n('0', scale as usize));
        } else if point < 0 {
            out.extend(std::iter::repeat_n('0', (-point) as usize));
            out.push_str(significant);
        } else {
            out.push_str(&significant[point as usize..]);
        }
    }
    out.parse::<Number>().map_err(|_| out_of_range())
}

/// True when two JSON numbers have the same decimal value, at any precision and in any
/// spelling (`1`, `1.0` and `1e0` are equal; `0.1` and `0.10000000000000001` are not).
///
/// ```
/// use engram_core::document::numbers_equal;
/// let n = |s: &str| s.parse::<serde_json::Number>().unwrap();
/// assert!(numbers_equal(&n("1"), &n("1.0e0")));
/// assert!(!numbers_equal(&n("12345678901234567890"), &n("12345678901234567891")));
/// ```
pub fn numbers_equal(left: &Number, right: &Number) -> bool {
    let (left_text, right_text) = (left.as_str(), right.as_str());
    left_text == right_text || number_value(left).is_some_and(|l| Some(l) == number_value(right))
}

/// The order of two JSON numbers by decimal value, at any precision and in any spelling;
/// `None` for text that is not a JSON number.
///
/// ```
/// use std::cmp::Ordering;
/// use engram_core::document::compare_numbers;
/// let n = |s: &str| s.parse::<serde_json::Number>().unwrap();
/// assert_eq!(compare_numbers(&n("10"), &n("9")), Some(Ordering::Greater));
/// assert_eq!(compare_numbers(&n("12345678901234567891"), &n("12345678901234567890")), Some(Ordering::Greater));
/// assert_eq!(compare_numbers(&n("-0.5"), &n("-5e-2")), Some(Ordering::Less));
/// assert_eq!(compare_numbers(&n("1.0"), &n("1e0")), Some(Ordering::Equal));
/// ```
pub fn compare_numbers(left: &Number, right: &Number) -> Option<std::cmp::Ordering> {
    use std::cmp::Ordering;
    let (left_negative, left_digits, left_exponent) = number_value(left)?;
    let (right_negative, right_digits, right_exponent) = number_value(right)?;
    let sign = |negative: bool, digits: &str| match (digits.is_empty(), negative) {
        (true, _) => 0,
        (false, true) => -1,
        (false, false) => 1,
    };
    let (left_sign, right_sign) = (
        sign(left_negative, &left_digits),
        sign(right_negative, &right_digits),
    );
    if left_sign != right_sign || left_sign == 0 {
        return Some(left_sign.cmp(&right_sign));
    }
    // Same sign, both nonzero: compare magnitudes by the position of the first digit, then
    // digit by digit (a missing digit is a trailing zero).
    let top = |digits: &str, exponent: i64| (digits.len() as i64).saturating_add(exponent);
    let magnitude = top(&left_digits, left_exponent)
        .cmp(&top(&right_digits, right_exponent))
        .then_with(|| {
            let (l, r) = (left_digits.as_bytes(), right_digits.as_bytes());
            (0..l.len().max(r.len()))
                .map(|i| {
                    let digit = |d: &[u8]| d.get(i).copied().unwrap_or(b'0');
                    digit(l).cmp(&digit(r))
                })
                .find(|order| *order != Ordering::Equal)
                .unwrap_or(Ordering::Equal)
        });
    Some(if left_sign > 0 {
        magnitude
    } else {
        magnitude.reverse()
    })
}

/// A number's value as (is negative, significant digits, exponent of the last digit): the
/// same for every spelling of one number (`1`, `1.0`, `1e0`), different for different
/// values; zero is `(false, "", 0)`. `None` for text that is not a JSON number.
pub(crate) fn number_value(number: &Number) -> Option<(bool, String, i64)> {
    Decimal::split(number.as_str()).map(|decimal| decimal.value_key())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(text: &str) -> String {
        canonical_number(&text.parse().unwrap(), "n")
            .unwrap()
            .to_string()
    }

    #[test]
    fn numbers_take_postgres_numeric_output_form() {
        for (input, expected) in [
            ("0", "0"),
            ("-0", "0"),
            ("-0.0", "0.0"),
            ("1E2", "100"),
            ("1e+2", "100"),
            ("1.50e1", "15.0"),
            ("1.5e-3", "0.0015"),
            ("-12.340", "-12.340"),
            ("0.000e5", "0"),
            ("123e-1", "12.3"),
            ("12345678901234567890", "12345678901234567890"),
            ("5e-1", "0.5"),
            ("0.10", "0.10"),
            ("12.5e-5", "0.000125"),
            ("-0.0012e2", "-0.12"),
        ] {
            assert_eq!(canon(input), expected, "{input}");
        }
        assert_eq!(canon("1e400").len(), 401);
        assert_eq!(canon("1e131071").len(), 131_072);
        assert_eq!(canon("0e200000"), "0");
        assert_eq!(canon("1e-16383").len(), 16_385);
        assert_eq!(canon("0e-3"), "0.000");
    }

    #[test]
    fn numbers_out_of_numeric_range_are_rejected() {
        for input in [
            "1e131072",
            "1e-16384",
            "1.5e-16383",
            "0e-16384",
            "1e99999999999999999999",
            "0e1073741823",
        ] {
            let number: Number = input.parse().unwrap();
            assert!(canonical_number(&number, "n").is_err(), "{input}");
        }
    }

    #[test]
    fn nesting_past_the_limit_is_rejected() {
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(&ok, "doc").is_ok());
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        let err = parse(&deep, "doc").unwrap_err();
        assert!(err.to_string().contains("nesting"), "{err}");
    }

    #[test]
    fn nul_in_keys_and_strings_is_rejected() {
        assert!(parse(r#"{"a\u0000": 1}"#, "m").is_err());
        assert!(parse(r#"[["\u0000"]]"#, "m").is_err());
        assert!(parse(r#"{"a": "\u0001"}"#, "m").is_ok());
    }

    #[test]
    fn duplicate_keys_keep_the_last_value() {
        assert_eq!(
            parse(r#"{"a":1,"a":{"b":2}}"#, "m").unwrap().to_string(),
            r#"{"a":{"b":2}}"#
        );
    }
}
