//! What the dashboard's HTTP tests share: serving a repository in process, and plain
//! HTTP/1.1 requests to it.

#![allow(clippy::unwrap_used, dead_code)]

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::sync::mpsc;

use serde_json::Value;
use zenml_core::SecretString;
use zenml_dashboard::{Dashboard, DashboardOptions};
use zenml_stack::Repository;

/// A served dashboard, stopped when dropped.
pub(crate) struct Served {
    pub(crate) port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
    pub(crate) ids: Value,
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A response: status, headers (lower-case names) and body.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

impl Served {
    /// `METHOD path` with extra header lines; HTTP/1.1 with `Connection: close`.
    pub(crate) fn request(&self, method: &str, path: &str, headers: &[&str], body: &str) -> Reply {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        let mut text = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for header in headers {
            text.push_str(header);
            text.push_str("\r\n");
        }
        text.push_str("\r\n");
        text.push_str(body);
        stream.write_all(text.as_bytes()).unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        let raw = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|line| line.split(' ').nth(1))
            .and_then(|code| code.parse().ok())
            .unwrap_or(0);
        let headers = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        // Bodies are small here: chunked framing is undone by keeping the chunks' text.
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_owned()
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    pub(crate) fn get(&self, path: &str) -> Reply {
        self.request("GET", path, &[], "")
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// Serves `repo` (in `dir`, kept until the server stops) with `token`; `ids` names the
/// records a test made.
pub(crate) fn serve(
    dir: tempfile::TempDir,
    repo: &Repository,
    token: Option<&str>,
    ids: Value,
) -> Served {
    let dashboard = Dashboard::bind(
        repo,
        DashboardOptions {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            stack: None,
            token: token.map(SecretString::new),
        },
    )
    .unwrap();
    let port: u16 = dashboard
        .url()
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (ready, is_ready) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        ready.send(()).unwrap();
        dashboard
            .serve_until(async {
                let _ = stopped.await;
            })
            .unwrap();
    });
    // The listener is bound before serving starts: connections queue until it does.
    is_ready.recv().unwrap();
    Served {
        port,
        stop: Some(stop),
        thread: Some(thread),
        _dir: dir,
        ids,
    }
}
