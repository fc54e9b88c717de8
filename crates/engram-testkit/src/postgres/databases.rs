//! The test databases: each test's fresh database, created through one shared maintenance
//! connection, and those on an external server dropped again at exit.

use std::process;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::{Client, Config, NoTls};

use super::{lock, Server, SERVER};

/// A connection to the maintenance database; its lock serializes `CREATE DATABASE`.
static ADMIN: Mutex<Option<Client>> = Mutex::new(None);
/// Databases created on an external server, dropped at exit.
static CREATED: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Numbers the databases this process creates.
static COUNTER: AtomicU64 = AtomicU64::new(0);
/// A random tag that keeps database names of processes with the same pid (other machines,
/// other containers) apart on a shared server.
static PROCESS_TAG: OnceLock<u32> = OnceLock::new();

/// Creates a database with a new unique name and returns the name.
pub(super) fn create_database(server: &Server) -> String {
    let mut admin = lock(&ADMIN);
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let client = admin_client(&mut admin, server);
        let name = format!(
            "engram_test_{}_{:08x}_{}",
            process::id(),
            PROCESS_TAG.get_or_init(rand::random::<u32>),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        match client.batch_execute(&format!("CREATE DATABASE {}", quote_ident(&name))) {
            Ok(()) => {
                if matches!(server, Server::External { .. }) {
                    lock(&CREATED).push(name.clone());
                }
                return name;
            }
            Err(error) if attempt < 10 && is_transient(&error) => {
                if client.is_closed() {
                    *admin = None;
                }
                // Another process may be copying template1 right now.
                thread::sleep(Duration::from_millis(50 * u64::from(attempt)));
            }
            Err(error) => panic!(
                "could not create a test database on {}: {}",
                server.display_url(),
                error_text(&error)
            ),
        }
    }
}

/// The cached connection to the maintenance database, (re)connected when needed.
fn admin_client<'a>(
    admin: &'a mut MutexGuard<'_, Option<Client>>,
    server: &Server,
) -> &'a mut Client {
    if admin.as_ref().is_some_and(Client::is_closed) {
        **admin = None;
    }
    if admin.is_none() {
        **admin = Some(connect(&server.admin_url()).unwrap_or_else(|error| {
            panic!(
                "could not connect to the test server at {}: {error}",
                server.display_url()
            )
        }));
    }
    admin.as_mut().expect("the admin connection was just made")
}

pub(super) fn connect(url: &str) -> Result<Client, String> {
    let mut config: Config = url
        .parse()
        .map_err(|e| format!("not a valid connection URL: {}", error_text(&e)))?;
    config.connect_timeout(Duration::from_secs(10));
    config.connect(NoTls).map_err(|e| error_text(&e))
}

/// Errors that another try may not repeat: template1 in use by a concurrent `CREATE
/// DATABASE` of another process, a name taken, a dropped connection.
fn is_transient(error: &postgres::Error) -> bool {
    error.is_closed()
        || error.code().is_some_and(|code| {
            *code == SqlState::OBJECT_IN_USE || *code == SqlState::DUPLICATE_DATABASE
        })
}

/// An error with its database message (the `Display` of [`postgres::Error`] alone says
/// only "db error").
pub(super) fn error_text(error: &postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{error}: {db}"),
        None => error.to_string(),
    }
}

/// Quotes an identifier for SQL (`"` doubled).
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Drops the databases created on an external server (best effort).
pub(super) fn drop_external_databases() {
    let Some(Ok(server @ Server::External { .. })) = SERVER.get() else {
        return;
    };
    let names = std::mem::take(&mut *lock(&CREATED));
    if names.is_empty() {
        return;
    }
    let Ok(mut client) = connect(&server.admin_url()) else {
        return;
    };
    for name in names {
        let quoted = quote_ident(&name);
        // WITH (FORCE) (PostgreSQL 13+) also ends sessions that tests left open.
        if client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
            .is_err()
        {
            let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {quoted}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("engram_test_1"), "\"engram_test_1\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
