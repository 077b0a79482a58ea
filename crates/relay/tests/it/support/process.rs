//! The real `atrelay serve` binary as a child process, for tests that break it from outside
//! (signals, `kill -9`, a database that refuses connections).

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

/// The shutdown bound the binary is started with in these tests, in seconds.
pub const SHUTDOWN_TIMEOUT_SECS: u64 = 10;

/// A running `atrelay serve` and where it listens.
pub struct Relay {
    child: Child,
    /// `http://<addr>` of the API.
    pub api: String,
    /// `http://<addr>` of the metrics listener.
    pub metrics: String,
    output: mpsc::Receiver<String>,
    log: Vec<String>,
}

impl Relay {
    /// Starts the binary on `db_url` with its data in `persist`, on ephemeral ports, with
    /// `extra` arguments.
    pub fn start(db_url: &str, persist: &Path, extra: &[&str]) -> Relay {
        Relay::start_with_env(db_url, persist, extra, &[])
    }

    /// [`Relay::start`] with extra environment variables.
    pub fn start_with_env(
        db_url: &str,
        persist: &Path,
        extra: &[&str],
        env: &[(&str, &std::ffi::OsStr)],
    ) -> Relay {
        let mut command = Command::new(env!("CARGO_BIN_EXE_atrelay"));
        command
            .args(["serve", "--db-url", db_url, "--persist-dir"])
            .arg(persist)
            .args(["--bind", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
            .args(["--admin-password", "lifecycle-test"])
            .args(["--shutdown-timeout", &SHUTDOWN_TIMEOUT_SECS.to_string()])
            .args(extra);
        Relay::spawn(command, env)
    }

    /// `atrelay splitter` following `upstream` (`ws://…`), its log in `persist`, on ephemeral
    /// ports, with `extra` arguments.
    pub fn splitter(upstream: &str, persist: &Path, extra: &[&str]) -> Relay {
        let mut command = Command::new(env!("CARGO_BIN_EXE_atrelay"));
        command
            .args(["splitter", "--upstream", upstream, "--persist-dir"])
            .arg(persist)
            .args(["--bind", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
            .args(extra);
        Relay::spawn(command, &[])
    }

    /// Starts `command` and waits for the addresses it logs.
    fn spawn(mut command: Command, env: &[(&str, &std::ffi::OsStr)]) -> Relay {
        let mut child = command
            .env("NO_COLOR", "1")
            .env("RELAY_LOG_LEVEL", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start atrelay");
        let (tx, output) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        let mut relay = Relay {
            child,
            api: String::new(),
            metrics: String::new(),
            output,
            log: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        while relay.api.is_empty() {
            let line = relay
                .output
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| panic!("no API address; output: {:#?}", relay.log));
            for (marker, slot) in [
                ("API listening", &mut relay.api),
                ("metrics listening", &mut relay.metrics),
            ] {
                if line.contains(marker) {
                    let addr = line.rsplit("addr=").next().unwrap().trim();
                    assert!(addr.parse::<std::net::SocketAddr>().is_ok(), "{line}");
                    *slot = format!("http://{addr}");
                }
            }
            relay.log.push(line);
        }
        relay
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `kill -9`: the process gets no chance to write anything; returns what it printed.
    pub fn kill_hard(mut self) -> String {
        let status = Command::new("kill")
            .args(["-KILL", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let _ = self.child.wait();
        while let Ok(line) = self.output.recv_timeout(Duration::from_secs(2)) {
            self.log.push(line);
        }
        self.log.join("\n")
    }

    /// Whether the process has exited, and with which code.
    pub fn exited(&mut self) -> Option<Option<i32>> {
        self.child.try_wait().unwrap().map(|status| status.code())
    }

    /// Everything printed so far.
    pub fn output(&mut self) -> String {
        while let Ok(line) = self.output.try_recv() {
            self.log.push(line);
        }
        self.log.join("\n")
    }

    /// Sends SIGTERM and waits (longer than the shutdown bound) for the exit; returns the exit
    /// code, how long it took, and everything the process printed.
    pub fn terminate(mut self) -> (Option<i32>, Duration, String) {
        let sent = Instant::now();
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let bound = Duration::from_secs(SHUTDOWN_TIMEOUT_SECS + 30);
        let code = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status.code();
            }
            if sent.elapsed() > bound {
                let _ = self.child.kill();
                panic!("atrelay still running {bound:?} after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let took = sent.elapsed();
        // The reader threads end with the pipes; collect the rest of the output.
        while let Ok(line) = self.output.recv_timeout(Duration::from_secs(5)) {
            self.log.push(line);
        }
        (code, took, self.log.join("\n"))
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
