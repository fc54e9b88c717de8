//! Pooled PostgreSQL connections that keep their prepared statements.

use std::collections::HashMap;

use postgres::{Client, NoTls, Statement};
use r2d2::ManageConnection;
use r2d2_postgres::PostgresConnectionManager;

/// How many prepared statements one connection keeps before it starts over.
const STATEMENT_CACHE_SIZE: usize = 256;

/// A PostgreSQL connection from the store's pool (derefs to [`postgres::Client`]), with a
/// cache of the statements it has prepared, so that a repeated query costs one round trip.
pub struct PgConnection {
    client: Client,
    statements: HashMap<String, Statement>,
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
        })
    }

    fn is_valid(&self, conn: &mut PgConnection) -> Result<(), postgres::Error> {
        self.0.is_valid(&mut conn.client)
    }

    fn has_broken(&self, conn: &mut PgConnection) -> bool {
        self.0.has_broken(&mut conn.client)
    }
}
