//! A minimal HTTP/1.1 client on `std::net` for the dashboard benchmark: `GET` on a
//! keep-alive connection (bodies sized by `Content-Length` or chunked), and a load of many
//! such connections at once, for machines without `wrk`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// One response.
pub(super) struct Response {
    pub(super) status: u16,
    /// The `dur` of the `app` metric of the `Server-Timing` header, in milliseconds.
    pub(super) server_ms: Option<f64>,
    pub(super) body: Vec<u8>,
}

/// A keep-alive connection, opened again when the server closes it.
pub(super) struct Connection {
    address: SocketAddr,
    stream: BufReader<TcpStream>,
    /// How many times the connection was opened again.
    pub(super) reconnects: usize,
    /// Whether the server said it closes the connection after the last response.
    closing: bool,
}

/// How long a request may take before the client gives up.
const TIMEOUT: Duration = Duration::from_secs(30);

fn connect(address: SocketAddr) -> anyhow::Result<BufReader<TcpStream>> {
    let stream = TcpStream::connect_timeout(&address, TIMEOUT)
        .with_context(|| format!("cannot connect to {address}"))?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    Ok(BufReader::with_capacity(64 * 1024, stream))
}

impl Connection {
    pub(super) fn open(address: SocketAddr) -> anyhow::Result<Connection> {
        Ok(Connection {
            address,
            stream: connect(address)?,
            reconnects: 0,
            closing: false,
        })
    }

    /// `GET path`, the whole response read.
    pub(super) fn get(&mut self, path: &str) -> anyhow::Result<Response> {
        if self.closing {
            self.stream = connect(self.address)?;
            self.reconnects += 1;
            self.closing = false;
        }
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nAccept: */*\r\nUser-Agent: zenml-xtask\r\n\r\n",
            self.address
        );
        self.stream
            .get_mut()
            .write_all(request.as_bytes())
            .with_context(|| format!("GET {path}: cannot send the request"))?;
        self.read_response()
            .with_context(|| format!("GET {path}: cannot read the response"))
    }

    fn read_response(&mut self) -> anyhow::Result<Response> {
        let mut line = String::new();
        if self.stream.read_line(&mut line)? == 0 {
            bail!("the server closed the connection");
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("bad status line `{}`", line.trim_end()))?;
        let (mut length, mut chunked, mut server_ms) = (None, false, None);
        loop {
            line.clear();
            if self.stream.read_line(&mut line)? == 0 {
                bail!("the connection ended inside the headers");
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let Some((name, value)) = header.split_once(':') else {
                bail!("bad header `{header}`");
            };
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = Some(value.parse::<usize>()?),
                "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                "connection" => self.closing = value.eq_ignore_ascii_case("close"),
                "server-timing" => server_ms = server_ms.or_else(|| app_duration(value)),
                _ => {}
            }
        }
        let body = if chunked {
            self.read_chunked()?
        } else if let Some(length) = length {
            let mut body = vec![0; length];
            self.stream.read_exact(&mut body)?;
            body
        } else {
            // No length: the body ends with the connection.
            self.closing = true;
            let mut body = Vec::new();
            self.stream.read_to_end(&mut body)?;
            body
        };
        Ok(Response {
            status,
            server_ms,
            body,
        })
    }

    fn read_chunked(&mut self) -> anyhow::Result<Vec<u8>> {
        let mut body = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            self.stream.read_line(&mut line)?;
            let size_text = line.trim_end().split(';').next().unwrap_or_default();
            let size = usize::from_str_radix(size_text.trim(), 16)
                .with_context(|| format!("bad chunk size `{}`", line.trim_end()))?;
            if size == 0 {
                // Trailers, up to the empty line.
                loop {
                    line.clear();
                    if self.stream.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
                        return Ok(body);
                    }
                }
            }
            let start = body.len();
            body.resize(start + size, 0);
            self.stream.read_exact(&mut body[start..])?;
            let mut crlf = [0; 2];
            self.stream.read_exact(&mut crlf)?;
        }
    }
}

/// The `dur` of the `app` metric in a `Server-Timing` value such as `app;dur=1.25`.
fn app_duration(value: &str) -> Option<f64> {
    value
        .split(',')
        .find(|metric| metric.trim().split(';').next() == Some("app"))?
        .split(';')
        .find_map(|param| param.trim().strip_prefix("dur="))?
        .trim_matches('"')
        .parse()
        .ok()
}

/// What a load run measured.
pub(super) struct LoadReport {
    pub(super) requests: u64,
    pub(super) requests_per_second: f64,
    /// Responses with another status than 2xx or 3xx.
    pub(super) non_2xx: u64,
    /// Failed connections, sends and reads.
    pub(super) socket_errors: u64,
    /// Latency percentiles, as the tool prints them, if it does.
    pub(super) latency: Option<String>,
}

/// `connections` threads, each with one keep-alive connection, sending `GET path` one
/// request after the other for `duration`.
pub(super) fn load(
    address: SocketAddr,
    path: &str,
    connections: usize,
    duration: Duration,
) -> LoadReport {
    let (ok, non_2xx, errors) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..connections {
            scope.spawn(|| {
                let mut connection: Option<Connection> = None;
                while !stop.load(Ordering::Relaxed) {
                    if connection.is_none() {
                        match Connection::open(address) {
                            Ok(open) => connection = Some(open),
                            Err(_) => {
                                errors.fetch_add(1, Ordering::Relaxed);
                                std::thread::sleep(Duration::from_millis(10));
                                continue;
                            }
                        }
                    }
                    let Some(open) = connection.as_mut() else {
                        continue;
                    };
                    match open.get(path) {
                        Ok(response) if (200..400).contains(&response.status) => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(_) => {
                            non_2xx.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            connection = None;
                        }
                    }
                }
            });
        }
        std::thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
    });
    let seconds = started.elapsed().as_secs_f64();
    let requests = ok.load(Ordering::Relaxed) + non_2xx.load(Ordering::Relaxed);
    LoadReport {
        requests,
        requests_per_second: requests as f64 / seconds,
        non_2xx: non_2xx.load(Ordering::Relaxed),
        socket_errors: errors.load(Ordering::Relaxed),
        latency: None,
    }
}

#[cfg(test)]
mod tests {
    use super::app_duration;

    #[test]
    fn reads_the_app_duration() {
        assert_eq!(app_duration("app;dur=1.25"), Some(1.25));
        assert_eq!(app_duration("db;dur=3, app;desc=\"x\";dur=0.5"), Some(0.5));
        assert_eq!(app_duration("db;dur=3"), None);
    }
}
