//! Pooled PostgreSQL connections that keep their prepared statements, made with a bound on
//! the whole connection handshake.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use postgres::{Client, Config, NoTls, Statement};
use r2d2::ManageConnection;

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

/// The r2d2 connection manager of the store: each connection is made by
/// [`connect_bounded`], given the store's lock timeout, and wrapped in a [`PgConnection`].
pub struct PgConnectionManager {
    config: Config,
    connect_timeout: Duration,
    /// `SET lock_timeout` on each new connection (`None`: the DSN's options set it).
    lock_timeout: Option<Duration>,
}

impl PgConnectionManager {
    /// Connections to `config`'s server, each given up after `connect_timeout` per host.
    pub fn new(config: Config, connect_timeout: Duration, lock_timeout: Option<Duration>) -> Self {
        PgConnectionManager {
            config,
            connect_timeout,
            lock_timeout,
        }
    }
}

impl ManageConnection for PgConnectionManager {
    type Connection = PgConnection;
    type Error = ConnectError;

    fn connect(&self) -> Result<PgConnection, ConnectError> {
        // The driver tries the hosts one after another, each within the connect timeout.
        let hosts = u32::try_from(self.config.get_hosts().len().max(1)).unwrap_or(u32::MAX);
        let mut client = connect_bounded(&self.config, self.connect_timeout.saturating_mul(hosts))?;
        if let Some(timeout) = self.lock_timeout {
            // A plain SET after the handshake, not a startup option, which connection
            // poolers (PgBouncer) refuse. Zero means no limit, as PostgreSQL reads it.
            client.batch_execute(&format!("SET lock_timeout = {}", timeout.as_millis()))?;
        }
        Ok(PgConnection {
            client,
            statements: HashMap::new(),
            returned: None,
        })
    }

    fn is_valid(&self, conn: &mut PgConnection) -> Result<(), ConnectError> {
        let recently_returned = conn
            .returned
            .is_some_and(|at| at.elapsed() < VALIDATE_AFTER_IDLE);
        if recently_returned && !conn.client.is_closed() {
            return Ok(());
        }
        conn.client.simple_query("")?;
        Ok(())
    }

    /// Called by the pool when a connection comes back.
    fn has_broken(&self, conn: &mut PgConnection) -> bool {
        let broken = conn.client.is_closed();
        conn.returned = (!broken).then(Instant::now);
        broken
    }
}

/// Why a connection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The driver or the server refused (bad password, no such database, refused port...).
    #[error(transparent)]
    Server(#[from] ServerError),
    /// The server took the TCP connection but did not finish the handshake in time (the
    /// driver's own `connect_timeout` covers only the TCP connect).
    #[error("the server accepted the connection but did not answer within {0:?}")]
    NoAnswer(Duration),
    /// The thread that connects could not be started.
    #[error("cannot start a thread to connect: {0}")]
    Thread(#[source] std::io::Error),
}

impl From<postgres::Error> for ConnectError {
    fn from(err: postgres::Error) -> Self {
        ConnectError::Server(ServerError(err))
    }
}

/// Most connection attempts of this process that may wait on an unanswering server at once.
pub const MAX_WAITING_CONNECTS: usize = 8;

static WAITING_CONNECTS: AtomicUsize = AtomicUsize::new(0);

/// Connects with `config`, giving up after `timeout` even when the server accepted the
/// connection and then never answers. The handshake runs on a thread of its own; one that
/// is given up on ends when the server answers or closes the connection.
///
/// At most [`MAX_WAITING_CONNECTS`] such threads wait at once: past that, a new attempt fails
/// at once instead of adding one more thread to a server that does not answer.
pub fn connect_bounded(config: &Config, timeout: Duration) -> Result<Client, ConnectError> {
    if WAITING_CONNECTS.fetch_add(1, Ordering::SeqCst) >= MAX_WAITING_CONNECTS {
        WAITING_CONNECTS.fetch_sub(1, Ordering::SeqCst);
        return Err(ConnectError::NoAnswer(timeout));
    }
    let (sender, receiver) = mpsc::sync_channel(1);
    let config = config.clone();
    let spawned = std::thread::Builder::new()
        .name("engram-pg-connect".to_string())
        .spawn(move || {
            let connected = config.connect(NoTls);
            WAITING_CONNECTS.fetch_sub(1, Ordering::SeqCst);
            // Nobody listens any more when the caller gave up: the client is dropped.
            let _ = sender.send(connected);
        });
    if let Err(err) = spawned {
        WAITING_CONNECTS.fetch_sub(1, Ordering::SeqCst);
        return Err(ConnectError::Thread(err));
    }
    match receiver.recv_timeout(timeout) {
        Ok(connected) => Ok(connected?),
        Err(RecvTimeoutError::Timeout) => Err(ConnectError::NoAnswer(timeout)),
        Err(RecvTimeoutError::Disconnected) => Err(ConnectError::Thread(std::io::Error::other(
            "the connecting thread stopped without an answer",
        ))),
    }
}

/// A driver error, displayed as the server's message with its detail, or as the client-side
/// error with its cause; its source is the driver's error itself.
#[derive(Debug)]
pub struct ServerError(pub postgres::Error);

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.as_db_error() {
            Some(db) => match db.detail() {
                Some(detail) => write!(f, "{} ({detail})", db.message()),
                None => f.write_str(db.message()),
            },
            // The client-side error's own text is generic ("error connecting to server"):
            // add its cause ("Connection refused", "timed out", ...).
            None => match std::error::Error::source(&self.0) {
                Some(cause) => write!(f, "{}: {cause}", self.0),
                None => write!(f, "{}", self.0),
            },
        }
    }
}

impl std::error::Error for ServerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}
