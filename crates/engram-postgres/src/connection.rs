//! Pooled PostgreSQL connections that keep their prepared statements.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use postgres::{Client, NoTls, Statement};
use r2d2::ManageConnection;
use r2d2_postgres::PostgresConnectionManager;

/// How many prepared statements one connection keeps before it starts over.
const STATEMENT_CACHE_SIZE: usize = 256;

/// A connection idle in the pool for at least this long is checked with a round trip before
/// it is handed out; one returned more recently, in working order, is handed out as it is.
/// (Checking every checkout cost a round trip per operation, doubling the latency of a
/// lookup by id.)
const VALIDATE_AFTER_IDLE: Duration = Duration::from_secs(1);

/// A PostgreSQL connection from the store's pool (derefs to [`postgres::Client`]), with a
/// cache of the statements it has prepared, so that a repeated query costs one round trip.
pub struct PgConnection {
    client: Client,
    statements: HashMap<String, Statement>,
    /// When the connection last went back to the pool unbroken.
    returned: Option<Instant>,
}

impl PgConnection {
    /// The statement for `sql`, prepared on first use.
    pub fn prepared(&mut self, sql: &str) -> Result<Statement, postgres::Error> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql)?;
        if self.statements.len() >= STATEMENT_CACHE_SIZE {
            self.statements.clear();
        }
        self.statements.insert(sql.to_string(), statement.clone());
        Ok(statement)
    }

    /// The underlying client (for transactions, which need `&mut Client`).
    pub fn client(&mut self) -> &mut Client {
        &mut self.client
    }
}

impl std::ops::Deref for PgConnection {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl std::ops::DerefMut for PgConnection {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}

/// The r2d2 connection manager of the store: r2d2_postgres's, with each connection wrapped
/// in a [`PgConnection`].
pub struct PgConnectionManager(pub(crate) PostgresConnectionManager<NoTls>);

impl ManageConnection for PgConnectionManager {
    type Connection = PgConnection;
    type Error = postgres::Error;

    fn connect(&self) -> Result<PgConnection, postgres::Error> {
        Ok(PgConnection {
            client: self.0.connect()?,
            statements: HashMap::new(),
            returned: None,
        })
    }

    fn is_valid(&self, conn: &mut PgConnection) -> Result<(), postgres::Error> {
        let recently_returned = conn
            .returned
            .is_some_and(|at| at.elapsed() < VALIDATE_AFTER_IDLE);
        if recently_returned && !conn.client.is_closed() {
            return Ok(());
        }
        self.0.is_valid(&mut conn.client)
    }

    /// Called by the pool when a connection comes back.
    fn has_broken(&self, conn: &mut PgConnection) -> bool {
        let broken = self.0.has_broken(&mut conn.client);
        conn.returned = (!broken).then(Instant::now);
        broken
    }
}
