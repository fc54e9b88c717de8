//! Keeps database passwords out of every line the binary prints: errors, logs and output.
//!
//! The password of the DSN in use is registered once with [`remember_dsn`]; [`scrub`] then
//! removes it from any text, both inside URLs (through [`engram_core::dsn::redact`]) and
//! anywhere else it appears verbatim or percent-decoded.

use std::sync::OnceLock;

use engram_core::dsn::redact;

/// The replacement for a removed password.
const MASK: &str = "***";

/// Passwords shorter than this are removed only from URLs, not from free text.
const MIN_SCRUBBED_CHARS: usize = 4;

static SECRETS: OnceLock<Vec<String>> = OnceLock::new();

/// Registers the password(s) found in `dsn` so that [`scrub`] removes them. Only the first
/// call has an effect.
pub fn remember_dsn(dsn: &str) {
    let _ = SECRETS.set(passwords(dsn));
}

/// `text` with every URL's password replaced by `***` and every registered password removed.
pub fn scrub(text: &str) -> String {
    scrub_with(text, SECRETS.get().map_or(&[], Vec::as_slice))
}

fn scrub_with(text: &str, secrets: &[String]) -> String {
    let mut out = redact_urls(text);
    for secret in secrets {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), MASK);
        }
    }
    out
}

/// Runs [`redact`] on each whitespace-separated word that looks like a URL or holds a
/// `password=` parameter, leaving the rest of the text as it is.
fn redact_urls(text: &str) -> String {
    if !text.contains("://") && !text.contains("password=") {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut word_start = None;
    for (index, ch) in text.char_indices() {
        if ch.is_whitespace() {
            if let Some(start) = word_start.take() {
                out.push_str(&redact_word(&text[start..index]));
            }
            out.push(ch);
        } else if word_start.is_none() {
            word_start = Some(index);
        }
    }
    if let Some(start) = word_start {
        out.push_str(&redact_word(&text[start..]));
    }
    out
}

fn redact_word(word: &str) -> String {
    if word.contains("://") || word.contains("password=") {
        redact(word)
    } else {
        word.to_string()
    }
}

/// The passwords a DSN carries (`user:password@` and `password=`), raw and percent-decoded.
fn passwords(dsn: &str) -> Vec<String> {
    let mut found: Vec<String> = engram_core::dsn::passwords(dsn)
        .into_iter()
        .map(str::to_string)
        .collect();
    let decoded: Vec<String> = found.iter().filter_map(|p| percent_decode(p)).collect();
    found.extend(decoded);
    // Replacing a short password, or one that is also the user, host or database name,
    // wherever it appears would garble messages ("***://***:***@…"); URLs are redacted
    // whole anyway, so such passwords are left to that.
    let rest_of_dsn = redact(dsn);
    found.retain(|p| {
        p.chars().count() >= MIN_SCRUBBED_CHARS && p != MASK && !rest_of_dsn.contains(p.as_str())
    });
    // Longest first, so that a password containing another is removed whole.
    found.sort_by_key(|p| std::cmp::Reverse(p.len()));
    found.dedup();
    found
}

/// The percent-decoded form of `text`, when it has escapes and decodes to UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    if !text.contains('%') {
        return None;
    }
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .ok()
        .map(|decoded| decoded.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_passwords_in_userinfo_and_parameters() {
        assert_eq!(
            passwords("postgres://u:p%40ss@h/db"),
            vec!["p%40ss", "p@ss"]
        );
        assert_eq!(
            passwords("postgres://u@h/db?password=x1y2z3&sslmode=disable"),
            vec!["x1y2z3"]
        );
        assert_eq!(passwords("postgres://u:hunt/er2@h/db"), vec!["hunt/er2"]);
        assert!(passwords("sqlite://engram.db").is_empty());
    }

    #[test]
    fn short_passwords_and_names_are_left_to_url_redaction() {
        assert!(passwords("postgres://u:e@h/db").is_empty());
        assert!(passwords("postgres://postgres:postgres@h/db").is_empty());
        assert_eq!(
            scrub_with("cannot connect to 'postgres://postgres:postgres@h/db'", &[]),
            "cannot connect to 'postgres://postgres:***@h/db'"
        );
        assert!(passwords("postgres://u@h/db").is_empty());
    }

    #[test]
    fn redacts_only_url_words() {
        assert_eq!(
            redact_urls("cannot connect to 'postgres://u:pw@h:1/db': refused"),
            "cannot connect to 'postgres://u:***@h:1/db': refused"
        );
        assert_eq!(redact_urls("plain text: a:b@c"), "plain text: a:b@c");
    }
}
