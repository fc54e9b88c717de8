//! Splits a SQL script into statements, for scripts that run outside a transaction.
//!
//! The splitter knows PostgreSQL's lexical rules that can hide a `;`: single-quoted strings
//! (with `''`, and backslash escapes in `E'...'` strings), double-quoted identifiers,
//! dollar-quoted strings (`$$...$$`, `$tag$...$tag$`), `--` line comments and (nesting)
//! `/* ... */` block comments. It does not parse SQL beyond that.

/// The statements of `sql`, in order, trimmed, without their terminating `;`; pieces that
/// hold only whitespace and comments are left out.
///
/// ```
/// use engram_migrate::split_statements;
/// let script = "-- header\nCREATE TABLE t (a text DEFAULT 'x;y');\n\
///               CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;\n\
///               /* done; */";
/// assert_eq!(
///     split_statements(script),
///     vec![
///         "-- header\nCREATE TABLE t (a text DEFAULT 'x;y')",
///         "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql",
///     ]
/// );
/// ```
pub fn split_statements(sql: &str) -> Vec<&str> {
    let bytes = sql.as_bytes();
    let mut statements = Vec::new();
    let mut start = 0;
    let mut has_content = false;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = skip_line_comment(bytes, i);
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = skip_block_comment(bytes, i);
                continue;
            }
            b'\'' => {
                let backslash_escapes = i >= 1
                    && matches!(bytes[i - 1], b'E' | b'e')
                    && (i < 2 || !is_ident_byte(bytes[i - 2]));
                i = skip_quoted(bytes, i, b'\'', backslash_escapes);
                has_content = true;
                continue;
            }
            b'"' => {
                i = skip_quoted(bytes, i, b'"', false);
                has_content = true;
                continue;
            }
            b'$' if i == 0 || !is_ident_byte(bytes[i - 1]) => {
                has_content = true;
                if let Some(tag_end) = dollar_tag_end(bytes, i) {
                    let tag = &bytes[i..tag_end];
                    i = find(bytes, tag_end, tag).map_or(bytes.len(), |close| close + tag.len());
                    continue;
                }
            }
            b';' => {
                if has_content {
                    statements.push(sql[start..i].trim());
                }
                start = i + 1;
                has_content = false;
            }
            c if c.is_ascii_whitespace() => {}
            _ => has_content = true,
        }
        i += 1;
    }
    if has_content {
        statements.push(sql[start..].trim());
    }
    statements
}

/// Bytes that can continue an identifier (a `$` after one is not a dollar quote).
fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// The index just past the newline ending the `--` comment at `i` (or the end).
fn skip_line_comment(bytes: &[u8], i: usize) -> usize {
    bytes[i..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |p| i + p + 1)
}

/// The index just past the (possibly nested) block comment opening at `i`.
fn skip_block_comment(bytes: &[u8], mut i: usize) -> usize {
    let mut depth = 0usize;
    while i < bytes.len() {
        if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
            depth += 1;
            i += 2;
        } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    bytes.len()
}

/// The index just past the quoted string or identifier opening at `i` with `quote`; a doubled
/// quote is an escaped quote.
fn skip_quoted(bytes: &[u8], mut i: usize, quote: u8, backslash_escapes: bool) -> usize {
    i += 1;
    while i < bytes.len() {
        let b = bytes[i];
        if backslash_escapes && b == b'\\' {
            i += 2;
        } else if b == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
            } else {
                return i + 1;
            }
        } else {
            i += 1;
        }
    }
    bytes.len()
}

/// If a dollar-quote tag (`$$` or `$tag$`) opens at `i`, the index just past it.
fn dollar_tag_end(bytes: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    match bytes.get(j) {
        Some(b'$') => return Some(j + 1),
        Some(&b) if b.is_ascii_alphabetic() || b == b'_' || b >= 0x80 => {}
        _ => return None,
    }
    while let Some(&b) = bytes.get(j) {
        if b == b'$' {
            return Some(j + 1);
        }
        if !(b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80) {
            return None;
        }
        j += 1;
    }
    None
}

/// The first index at or after `from` where `needle` starts.
fn find(haystack: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

#[cfg(test)]
mod tests {
    use super::split_statements;

    #[test]
    fn plain_statements() {
        assert_eq!(
            split_statements("SELECT 1; SELECT 2;\nSELECT 3"),
            vec!["SELECT 1", "SELECT 2", "SELECT 3"]
        );
        assert!(split_statements("").is_empty());
        assert!(split_statements(" ;; \n -- only a comment;\n /* and; another */ ;").is_empty());
    }

    #[test]
    fn semicolons_in_strings_and_identifiers() {
        assert_eq!(
            split_statements(
                "INSERT INTO t VALUES ('a;b', 'it''s;'); SELECT \"we;ird\"\"x\" FROM t;"
            ),
            vec![
                "INSERT INTO t VALUES ('a;b', 'it''s;')",
                "SELECT \"we;ird\"\"x\" FROM t"
            ]
        );
        assert_eq!(
            split_statements(r"SELECT E'a\';b'; SELECT 'c\'; SELECT 2"),
            vec![r"SELECT E'a\';b'", r"SELECT 'c\'", "SELECT 2"]
        );
        // `e'` ending an identifier is not an escape-string prefix.
        assert_eq!(
            split_statements(r"SELECT name'\'; SELECT 2"),
            vec![r"SELECT name'\'", "SELECT 2"]
        );
    }

    #[test]
    fn comments() {
        assert_eq!(
            split_statements("-- a; b\nSELECT 1; /* x; /* nested; */ y; */ SELECT 2 -- tail;\n;"),
            vec![
                "-- a; b\nSELECT 1",
                "/* x; /* nested; */ y; */ SELECT 2 -- tail;"
            ]
        );
        assert_eq!(
            split_statements("SELECT 1 - -1; SELECT 2 / 1"),
            vec!["SELECT 1 - -1", "SELECT 2 / 1"]
        );
    }

    #[test]
    fn dollar_quotes() {
        let script = "DO $$ BEGIN PERFORM 1; END $$;\n\
                      CREATE FUNCTION f() RETURNS text AS $fn$ SELECT '$$;'; $fn$ LANGUAGE sql;\n\
                      PREPARE p AS SELECT $1; SELECT a$b FROM t;";
        assert_eq!(
            split_statements(script),
            vec![
                "DO $$ BEGIN PERFORM 1; END $$",
                "CREATE FUNCTION f() RETURNS text AS $fn$ SELECT '$$;'; $fn$ LANGUAGE sql",
                "PREPARE p AS SELECT $1",
                "SELECT a$b FROM t",
            ]
        );
    }

    #[test]
    fn unterminated_pieces_run_to_the_end() {
        assert_eq!(
            split_statements("SELECT 'abc; SELECT 2"),
            vec!["SELECT 'abc; SELECT 2"]
        );
        assert_eq!(split_statements("SELECT $x$ ; "), vec!["SELECT $x$ ;"]);
        assert_eq!(split_statements("SELECT 1 /* ; "), vec!["SELECT 1 /* ;"]);
    }

    #[test]
    fn utf8_is_kept_intact() {
        assert_eq!(
            split_statements("SELECT 'é;ü'; SELECT 'ß'"),
            vec!["SELECT 'é;ü'", "SELECT 'ß'"]
        );
    }
}
