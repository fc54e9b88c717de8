//! Misbehaving peers and hang guards for the tests of engram's corners: a server that
//! accepts connections and never answers, a bound on how long a call may take before the
//! test calls it a hang, and whether the tests run as root (who may write any file).

use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::time::Duration;

/// How long a call may take before [`finishes_within_a_minute`] calls it a hang.
pub const HANG: Duration = Duration::from_secs(60);

/// A listener on a free loopback port that accepts connections and never says a word, like
/// a hung server. It holds the first few connections open for five minutes, then ends.
///
/// # Panics
///
/// When no loopback port can be bound.
pub fn silent_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let address = listener.local_addr().expect("the listener's address");
    std::thread::spawn(move || {
        let held: Vec<_> = listener.incoming().take(8).collect();
        std::thread::sleep(Duration::from_secs(300));
        drop(held);
    });
    address
}

/// Runs `work` on a thread and returns its result, or panics naming `what` when it has not
/// returned within [`HANG`], so that a hang fails the test instead of stopping the run.
///
/// # Panics
///
/// When `work` takes longer than [`HANG`].
pub fn finishes_within_a_minute<T: Send + 'static>(
    what: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(work());
    });
    receiver
        .recv_timeout(HANG)
        .unwrap_or_else(|_| panic!("{what} hung: no answer within {HANG:?}"))
}

/// Whether this process runs as root.
pub fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}
