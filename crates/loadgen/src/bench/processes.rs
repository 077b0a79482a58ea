//! The processes a benchmark run starts: the load (this binary's `serve`) and the relay under
//! test (the release `atrelay` binary), each its own OS process, killed when dropped.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::serve::{parse_endpoints, Endpoints};

/// A child process killed (SIGKILL) when dropped.
pub struct Process {
    child: Child,
    name: &'static str,
}

impl Process {
    /// Wraps a started child; `name` is used in errors.
    pub fn new(child: Child, name: &'static str) -> Self {
        Process { child, name }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails when the process has exited.
    ///
    /// # Errors
    /// The process is no longer running.
    pub fn check_running(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("{} exited: {status}", self.name);
        }
        Ok(())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `atrelay-loadgen serve` on the load in `dir` (each host sending at most `limit`
/// events, all hosts together `rate` events/s or flat out) and returns it with its endpoints.
///
/// # Errors
/// The process did not start or printed no endpoints.
pub fn start_load(
    dir: &Path,
    limit: Option<usize>,
    rate: Option<f64>,
) -> Result<(Process, Endpoints)> {
    let exe = std::env::current_exe().context("locating atrelay-loadgen")?;
    let mut command = Command::new(exe);
    command.arg("serve").arg("--load").arg(dir);
    if let Some(limit) = limit {
        command.arg("--limit").arg(limit.to_string());
    }
    if let Some(rate) = rate {
        command.arg("--rate").arg(format!("{rate:.0}"));
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting atrelay-loadgen serve")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let process = Process {
        child,
        name: "atrelay-loadgen serve",
    };
    let endpoints = parse_endpoints(&line)?;
    Ok((process, endpoints))
}

/// How to start the relay under test.
#[derive(Debug, Clone)]
pub struct RelaySetup {
    /// The `atrelay` binary.
    pub binary: PathBuf,
    /// `--db-url`.
    pub db_url: String,
    /// A scratch directory for its event log and log file.
    pub work_dir: PathBuf,
    /// The load's DID directory (`--plc-host`).
    pub plc_host: String,
}

/// The relay under test.
pub struct Relay {
    /// The process.
    pub process: Process,
    /// Its API, `127.0.0.1:<port>`.
    pub api: String,
    /// Its metrics endpoint, `127.0.0.1:<port>`.
    pub metrics: String,
}

impl Relay {
    /// Starts a fresh relay (its scratch directory emptied first, so no event log of an
    /// earlier run is recovered) and waits until `/xrpc/_health` answers. Hosts on 127.0.0.1
    /// are trusted (no account limit or event rate gets in the way of the measurement); every
    /// verification is on.
    ///
    /// # Errors
    /// The relay did not start or did not become healthy within a minute.
    pub async fn start(setup: &RelaySetup) -> Result<Self> {
        if setup.work_dir.exists() {
            std::fs::remove_dir_all(&setup.work_dir)
                .with_context(|| format!("clearing {}", setup.work_dir.display()))?;
        }
        std::fs::create_dir_all(&setup.work_dir)?;
        let api = format!("127.0.0.1:{}", free_port()?);
        let metrics = format!("127.0.0.1:{}", free_port()?);
        let log = std::fs::File::create(setup.work_dir.join("relay.log"))?;
        let child = Command::new(&setup.binary)
            .arg("serve")
            .args(["--allow-insecure-hosts", "--trusted-domains", "127.0.0.1"])
            .args(["--plc-host", &setup.plc_host])
            .args(["--bind", &api, "--metrics-listen", &metrics])
            .args(["--db-url", &setup.db_url])
            .arg("--persist-dir")
            .arg(setup.work_dir.join("persist"))
            .args(["--trusted-host-events-per-second", "100000000"])
            .args(["--trusted-host-events-per-hour", "100000000000"])
            .args(["--trusted-host-events-per-day", "100000000000"])
            .args(["--max-consumers-per-ip", "5000"])
            .args(["--admin-password", "atrelay-bench"])
            .args(["--log-level", "warn"])
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", setup.binary.display()))?;
        let mut relay = Relay {
            process: Process {
                child,
                name: "atrelay",
            },
            api,
            metrics,
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            relay.process.check_running()?;
            let health = client
                .get(format!("http://{}/xrpc/_health", relay.api))
                .send()
                .await;
            if health.is_ok_and(|r| r.status().is_success()) {
                return Ok(relay);
            }
            if Instant::now() > deadline {
                bail!("atrelay did not answer /xrpc/_health within a minute");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Asks the relay to follow each host (the public `requestCrawl`, as a PDS does).
    ///
    /// # Errors
    /// A refused request.
    pub async fn request_crawl(&self, hosts: &[String]) -> Result<()> {
        let client = reqwest::Client::new();
        for host in hosts {
            let response = client
                .post(format!(
                    "http://{}/xrpc/com.atproto.sync.requestCrawl",
                    self.api
                ))
                .json(&serde_json::json!({ "hostname": host }))
                .send()
                .await?;
            if !response.status().is_success() {
                bail!(
                    "requestCrawl {host}: {} {}",
                    response.status(),
                    response.text().await.unwrap_or_default()
                );
            }
        }
        Ok(())
    }
}

/// A port free on 127.0.0.1 right now.
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
