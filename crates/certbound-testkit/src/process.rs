//! Helpers for tests that run the `certbound` binary and other programs as processes.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (released before it is returned: a small race with other
/// processes, fine for tests), never one this process was given before.
pub fn free_port() -> u16 {
    for _ in 0..200 {
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        if claim(&[port]) {
            return port;
        }
    }
    panic!("no free port");
}

/// A free port `p` such that `p + 1` is free too (the AS's conventional and mTLS listeners).
pub fn free_port_pair() -> u16 {
    for _ in 0..200 {
        let a = TcpListener::bind("127.0.0.1:0").expect("bind");
        let p = a.local_addr().expect("addr").port();
        if p < 65535 && TcpListener::bind(("127.0.0.1", p + 1)).is_ok() && claim(&[p, p + 1]) {
            return p;
        }
    }
    panic!("no free port pair");
}

/// Records `ports` as handed out by this process, unless one of them already was. The listener
/// that found a port free is closed before the port is used, so the kernel may offer the same
/// port to the next caller: without this, two services of one test could get one port.
fn claim(ports: &[u16]) -> bool {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
    if ports.iter().any(|p| given.contains(p)) {
        return false;
    }
    given.extend_from_slice(ports);
    true
}

/// Which output of a child process is captured.
#[derive(Clone, Copy)]
pub enum Output {
    /// Standard output.
    Stdout,
    /// Standard error (where certbound logs).
    Stderr,
    /// Both, interleaved line by line into one capture.
    Both,
}

/// A child process whose output is captured line by line; killed when dropped, also when a test
/// fails.
pub struct Process {
    child: Child,
    output: Arc<Mutex<String>>,
}

impl Process {
    /// Spawns `cmd`, capturing `output`; the other stream is discarded.
    pub fn spawn(cmd: &mut Command, output: Output) -> Process {
        let (out, err) = match output {
            Output::Stdout => (Stdio::piped(), Stdio::null()),
            Output::Stderr => (Stdio::null(), Stdio::piped()),
            Output::Both => (Stdio::piped(), Stdio::piped()),
        };
        let mut child = cmd
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("the process starts");
        let mut streams: Vec<Box<dyn Read + Send>> = Vec::new();
        if let Some(s) = child.stdout.take() {
            streams.push(Box::new(s));
        }
        if let Some(s) = child.stderr.take() {
            streams.push(Box::new(s));
        }
        let captured = Arc::new(Mutex::new(String::new()));
        for stream in streams {
            let sink = captured.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let mut s = sink.lock().unwrap_or_else(|p| p.into_inner());
                    s.push_str(&line);
                    s.push('\n');
                }
            });
        }
        Process {
            child,
            output: captured,
        }
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal by name (`TERM`, `HUP`, ...) with `kill`.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits up to `limit` for the process to exit by itself: its status, or `None` if it is
    /// still running (it is left running).
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything captured so far.
    pub fn output(&self) -> String {
        self.output
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Waits (up to 30 s) for a captured line containing `needle` and returns it.
    pub fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(line) = self.output().lines().find(|l| l.contains(needle)) {
                return line.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "no line containing {needle:?}; output:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `kill -9`, and reaps the process.
    pub fn kill9(&mut self) {
        let status = Command::new("kill")
            .args(["-9", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A blocking HTTPS client for a `certbound quickstart` directory: trusts `pki/ca.pem` and, when
/// `cert` is given, presents `pki/<cert>.pem` with `pki/<cert>.key`.
pub fn quickstart_client(dir: &Path, cert: Option<&str>) -> reqwest::blocking::Client {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let ca = std::fs::read(dir.join("pki/ca.pem")).expect("pki/ca.pem");
    let mut b = reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("CA"))
        .timeout(Duration::from_secs(20));
    if let Some(name) = cert {
        let mut pem = std::fs::read(dir.join(format!("pki/{name}.pem"))).expect("certificate");
        pem.extend(std::fs::read(dir.join(format!("pki/{name}.key"))).expect("key"));
        b = b.identity(reqwest::Identity::from_pem(&pem).expect("identity"));
    }
    b.build().expect("client")
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_process_never_gets_a_port_twice() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..50 {
            let p = super::free_port_pair();
            assert!(seen.insert(p) && seen.insert(p + 1), "pair {p} given twice");
            let q = super::free_port();
            assert!(seen.insert(q), "port {q} given twice");
        }
    }
}
