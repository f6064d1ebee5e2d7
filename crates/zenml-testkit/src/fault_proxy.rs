//! A TCP proxy for fault tests of network flavors: it forwards connections to a real server
//! and, when told to, cuts them part way, refuses them, or answers HTTP errors in the
//! server's place, so a test can take the server away mid-transfer and bring it back.
//!
//! ```no_run
//! use zenml_testkit::fault_proxy::{Fault, FaultProxy};
//! let proxy = FaultProxy::start("127.0.0.1:5000").unwrap();
//! // point the flavor at proxy.url() …
//! proxy.set(Fault::CutAfter(8 << 20)); // the next 8 MiB pass, then every connection drops
//! // … a transfer fails …
//! proxy.set(Fault::None); // the server is back
//! ```

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

/// What the proxy does to connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward everything.
    None,
    /// Forward this many more bytes from clients to the server (over all connections), then
    /// cut every connection, and refuse new ones until the fault changes.
    CutAfter(u64),
    /// Return this many more bytes from the server to clients (over all connections), then
    /// cut every connection, and refuse new ones until the fault changes: a server that goes
    /// away in the middle of a download.
    CutResponsesAfter(u64),
    /// Accept connections and close them at once, as a server that went away.
    Refuse,
    /// Answer the next this many requests with `503 Service Unavailable` (a transient error
    /// that clients retry), then forward again.
    Unavailable(u32),
    /// Answer every request with `500 Internal Server Error`.
    InternalError,
}

/// Shared state of a proxy and its connections.
#[derive(Debug)]
struct State {
    fault: Mutex<Fault>,
    /// Bytes forwarded from clients since the fault was last set.
    forwarded: AtomicU64,
    /// Bytes returned from the server since the fault was last set.
    returned: AtomicU64,
    /// Requests answered with an error instead of forwarded, since the fault was last set.
    answered: AtomicU64,
    /// Bumped by every change of the fault: connections of an earlier epoch are closed, so
    /// that a pooled connection does not outlive the fault it was opened under.
    epoch: AtomicU64,
    stopped: AtomicBool,
}

impl State {
    fn fault(&self) -> Fault {
        *self.fault.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running proxy; it stops when dropped.
#[derive(Debug)]
pub struct FaultProxy {
    address: SocketAddr,
    state: Arc<State>,
}

impl FaultProxy {
    /// Starts a proxy on a free port of 127.0.0.1 in front of `target` (`host:port`).
    pub fn start(target: &str) -> io::Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?;
        let target: SocketAddr = target
            .parse()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{target}: {e}")))?;
        let state = Arc::new(State {
            fault: Mutex::new(Fault::None),
            forwarded: AtomicU64::new(0),
            returned: AtomicU64::new(0),
            answered: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
        });
        let accepting = Arc::clone(&state);
        thread::spawn(move || {
            for client in listener.incoming() {
                if accepting.stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let state = Arc::clone(&accepting);
                thread::spawn(move || serve(client, target, &state));
            }
        });
        Ok(FaultProxy { address, state })
    }

    /// The proxy's URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The proxy's address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Changes what the proxy does, from the next byte on; open connections are closed.
    pub fn set(&self, fault: Fault) {
        let mut current = self
            .state
            .fault
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.state.forwarded.store(0, Ordering::SeqCst);
        self.state.returned.store(0, Ordering::SeqCst);
        self.state.answered.store(0, Ordering::SeqCst);
        self.state.epoch.fetch_add(1, Ordering::SeqCst);
        *current = fault;
    }

    /// How many requests the proxy answered with an error itself since the fault was set.
    pub fn answered_errors(&self) -> u64 {
        self.state.answered.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.state.stopped.store(true, Ordering::SeqCst);
        // Wake the accepting thread so that it sees the flag.
        let _ = TcpStream::connect_timeout(&self.address, Duration::from_millis(200));
    }
}

/// Serves one client connection.
fn serve(client: TcpStream, target: SocketAddr, state: &Arc<State>) {
    let epoch = state.epoch.load(Ordering::SeqCst);
    match state.fault() {
        Fault::Refuse => {
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
        Fault::CutAfter(limit) if state.forwarded.load(Ordering::SeqCst) >= limit => {
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
        Fault::CutResponsesAfter(limit) if state.returned.load(Ordering::SeqCst) >= limit => {
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
        Fault::InternalError => {
            answer(client, state, "500 Internal Server Error");
            return;
        }
        Fault::Unavailable(n) if u64::from(n) > state.answered.load(Ordering::SeqCst) => {
            answer(client, state, "503 Service Unavailable");
            return;
        }
        _ => {}
    }
    let Ok(server) = TcpStream::connect(target) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let (Ok(client_read), Ok(server_write)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let upstream_state = Arc::clone(state);
    let upstream =
        thread::spawn(move || pump_upstream(client_read, server_write, &upstream_state, epoch));
    // Downstream: the server's answers go back unchanged, unless the connection is cut.
    let mut server_read = server;
    let mut client_write = client;
    let mut buffer = vec![0u8; 64 << 10];
    loop {
        match server_read.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if cut(state, epoch) {
                    break;
                }
                let allowed = match state.fault() {
                    Fault::CutResponsesAfter(limit) => {
                        let before = state.returned.fetch_add(n as u64, Ordering::SeqCst);
                        usize::try_from(limit.saturating_sub(before))
                            .unwrap_or(usize::MAX)
                            .min(n)
                    }
                    _ => n,
                };
                if client_write.write_all(&buffer[..allowed]).is_err() || allowed < n {
                    break;
                }
            }
        }
    }
    let _ = client_write.shutdown(Shutdown::Both);
    let _ = server_read.shutdown(Shutdown::Both);
    let _ = upstream.join();
}

/// Forwards the client's bytes to the server, counting them, until the fault cuts them.
fn pump_upstream(mut client: TcpStream, mut server: TcpStream, state: &State, epoch: u64) {
    let mut buffer = vec![0u8; 64 << 10];
    loop {
        let n = match client.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if state.epoch.load(Ordering::SeqCst) != epoch {
            break;
        }
        let allowed = match state.fault() {
            Fault::CutAfter(limit) => {
                let before = state.forwarded.fetch_add(n as u64, Ordering::SeqCst);
                usize::try_from(limit.saturating_sub(before))
                    .unwrap_or(usize::MAX)
                    .min(n)
            }
            Fault::Refuse => 0,
            _ => n,
        };
        if allowed > 0 && server.write_all(&buffer[..allowed]).is_err() {
            break;
        }
        if allowed < n {
            break;
        }
    }
    let _ = client.shutdown(Shutdown::Both);
    let _ = server.shutdown(Shutdown::Both);
}

/// Whether the current fault cuts a connection of `epoch` now.
fn cut(state: &State, epoch: u64) -> bool {
    if state.epoch.load(Ordering::SeqCst) != epoch {
        return true;
    }
    match state.fault() {
        Fault::CutAfter(limit) => state.forwarded.load(Ordering::SeqCst) >= limit,
        Fault::CutResponsesAfter(limit) => state.returned.load(Ordering::SeqCst) >= limit,
        Fault::Refuse => true,
        _ => false,
    }
}

/// Reads the request's head (and discards what body arrives with it) and answers `status`,
/// closing the connection.
fn answer(mut client: TcpStream, state: &State, status: &str) {
    state.answered.fetch_add(1, Ordering::SeqCst);
    let _ = client.set_read_timeout(Some(Duration::from_millis(500)));
    let mut head = Vec::new();
    let mut buffer = [0u8; 8192];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match client.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buffer[..n]),
        }
    }
    let body = format!("fault proxy: {status}\n");
    let _ = write!(
        client,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = client.shutdown(Shutdown::Both);
}
