//! Test server URLs: the private cluster's, and an external server's with another database.

/// The URL of a database on the private cluster, as its `postgres` superuser.
pub(super) fn local_url(port: u16, database: &str) -> String {
    format!("postgres://postgres@127.0.0.1:{port}/{database}")
}

/// Splits a `postgres://` URL into the part up to the host and port, the database path
/// and the query string (with its `?`).
fn split_url(url: &str) -> (&str, &str, &str) {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let query_start = url[scheme_end..]
        .find('?')
        .map_or(url.len(), |i| scheme_end + i);
    let main = &url[..query_start];
    let host_start = main[scheme_end..]
        .rfind('@')
        .map_or(scheme_end, |i| scheme_end + i + 1);
    match main[host_start..].find('/') {
        Some(i) => (
            &url[..host_start + i],
            &url[host_start + i + 1..query_start],
            &url[query_start..],
        ),
        None => (main, "", &url[query_start..]),
    }
}

/// The same server URL with another database.
pub(super) fn with_database(url: &str, database: &str) -> String {
    let (server, _, query) = split_url(url);
    format!("{server}/{database}{query}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_is_replaced_in_urls() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/db", "x"),
            "postgres://u:p@h:5432/x"
        );
        assert_eq!(
            with_database("postgresql://u:p@h/db?sslmode=disable", "x"),
            "postgresql://u:p@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
        assert_eq!(with_database("postgres://h:1/", "x"), "postgres://h:1/x");
        assert_eq!(
            with_database("postgres://u:p/w@h/db", "x"),
            "postgres://u:p/w@h/x"
        );
        assert_eq!(
            with_database("postgres://u@h?host=/var/run/postgresql", "x"),
            "postgres://u@h/x?host=/var/run/postgresql"
        );
    }
}
