//! Helpers shared by the tests that run the built `icebreaker` binary: bounded waits and child
//! processes that are always killed.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_icebreaker");

/// What a finished run printed and returned.
#[derive(Debug)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// Fails with everything printed if the exit code is not `code`.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "panic:\n{}", self.stderr);
        self
    }
}

/// A child process killed (and reaped) when dropped, whatever happened.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the binary with `args` (and `stdin`), killing it if it takes longer than `limit`.
pub fn run_with(args: &[&str], stdin: Option<&str>, limit: Duration) -> Output {
    let mut child = ChildGuard(
        Command::new(BIN)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn icebreaker"),
    );
    if let (Some(text), Some(mut pipe)) = (stdin, child.0.stdin.take()) {
        // A command that refuses an over-long input stops reading before its end.
        if let Err(e) = pipe.write_all(text.as_bytes()) {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write stdin: {e}");
        }
    }
    let out = read_all(child.0.stdout.take());
    let err = read_all(child.0.stderr.take());
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.0.try_wait().expect("wait") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "icebreaker {args:?} ran longer than {limit:?}"
        );
        thread::sleep(Duration::from_millis(10));
    };
    Output {
        code: status.code(),
        stdout: out.recv_timeout(Duration::from_secs(5)).unwrap_or_default(),
        stderr: err.recv_timeout(Duration::from_secs(5)).unwrap_or_default(),
    }
}

/// Runs the binary with `args` and an open stdin for `span`, then kills it: what it printed
/// until then (for commands that keep running, like `peer`).
pub fn run_for(args: &[&str], span: Duration) -> Output {
    let mut child = ChildGuard(
        Command::new(BIN)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn icebreaker"),
    );
    let out = read_all(child.0.stdout.take());
    let err = read_all(child.0.stderr.take());
    thread::sleep(span);
    let _ = child.0.kill();
    let status = child.0.wait().expect("wait");
    Output {
        code: status.code(),
        stdout: out.recv_timeout(Duration::from_secs(5)).unwrap_or_default(),
        stderr: err.recv_timeout(Duration::from_secs(5)).unwrap_or_default(),
    }
}

/// Runs the binary with a 20-second limit.
pub fn run(args: &[&str]) -> Output {
    run_with(args, None, Duration::from_secs(20))
}

fn read_all(pipe: Option<impl std::io::Read + Send + 'static>) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    if let Some(mut p) = pipe {
        thread::spawn(move || {
            let mut s = String::new();
            let _ = p.read_to_string(&mut s);
            let _ = tx.send(s);
        });
    }
    rx
}

/// A running `icebreaker stun-server`, killed on drop.
pub struct Server {
    pub child: ChildGuard,
    /// The addresses from its `listening on` line, in the order printed.
    pub addrs: Vec<std::net::SocketAddr>,
    _stdout: thread::JoinHandle<()>,
}

/// Starts `icebreaker stun-server` with `args` and waits (bounded) for its `listening on` line.
pub fn start_server(args: &[&str]) -> Server {
    let mut child = ChildGuard(
        Command::new(BIN)
            .arg("stun-server")
            .args(args)
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn icebreaker stun-server"),
    );
    let stdout: ChildStdout = child.0.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    let reader = thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        if let Some(Ok(first)) = lines.next() {
            let _ = tx.send(first);
        }
        // Keep draining so the server never blocks on a full pipe.
        for _ in lines {}
    });
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("stun-server printed no `listening on` line within 20 s");
    let list = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let addrs = list
        .split(", ")
        .map(|a| {
            a.split_whitespace()
                .next()
                .unwrap_or(a)
                .parse()
                .expect("address")
        })
        .collect();
    Server {
        child,
        addrs,
        _stdout: reader,
    }
}

/// A directory under the system's temporary directory, removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "icebreaker-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }

    pub fn write(&self, name: &str, contents: &str) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, contents).unwrap();
        p.to_str().unwrap().to_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A test CA and a server certificate it signed for `localhost` and 127.0.0.1, as PEM files:
/// (ca, cert, key).
pub fn certificates(dir: &TempDir) -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "icebreaker test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    (
        dir.write("ca.pem", &ca_cert.pem()),
        dir.write("cert.pem", &cert.pem()),
        dir.write("key.pem", &key.serialize_pem()),
    )
}

/// A server started with `--json`: its stdout read line by line, each line parsed as JSON.
pub struct JsonServer {
    pub child: ChildGuard,
    lines: mpsc::Receiver<String>,
}

impl JsonServer {
    /// Starts `icebreaker ARGS` and waits (bounded) for its first line, which must be a JSON
    /// object with `"type":"listening"`; returns it.
    pub fn start(args: &[&str]) -> (Self, serde_json::Value) {
        let mut child = ChildGuard(
            Command::new(BIN)
                .args(args)
                .env("RUST_LOG", "warn")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn icebreaker"),
        );
        let stdout = child.0.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Self { child, lines };
        let first = server.next_line();
        assert_eq!(first["type"], "listening", "{first}");
        (server, first)
    }

    /// The next line of stdout as JSON, within 20 s.
    pub fn next_line(&mut self) -> serde_json::Value {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(20))
            .expect("a line on stdout within 20 s");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    /// Sends SIGTERM and returns the `"type":"stopped"` line; the exit status must be 0.
    pub fn stop(mut self) -> serde_json::Value {
        let pid = self.child.0.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
        let stopped = self.next_line();
        assert_eq!(stopped["type"], "stopped", "{stopped}");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(s) = self.child.0.try_wait().unwrap() {
                assert_eq!(s.code(), Some(0), "exit status after SIGTERM");
                return stopped;
            }
            assert!(Instant::now() < deadline, "no exit within 10 s of SIGTERM");
            thread::sleep(Duration::from_millis(20));
        }
    }
}
