//! The `make bench` report: Markdown tables, written between two marker lines of a file so
//! the hand-written parts around it stay.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::procstat::{mib, Memory};
use super::runs::IngestFigures;
use super::signatures::Ceiling;
use super::splitter::SplitterFigures;
use super::Size;
use crate::load::Manifest;

/// The line the report starts after.
pub const BEGIN: &str = "<!-- BEGIN make bench report -->";
/// The line the report ends before.
pub const END: &str = "<!-- END make bench report -->";

/// Everything measured, filled in step by step.
pub struct Report {
    size: Size,
    /// The signature ceiling.
    pub ceiling: Option<Ceiling>,
    /// The main load.
    pub main_load: Option<Manifest>,
    /// Ingest runs by store.
    pub ingest: Vec<(String, IngestFigures)>,
    /// Replay events/s from cursor 0.
    pub replay_per_sec: Option<f64>,
    /// The live-delay run: its rate and figures.
    pub paced: Option<(f64, IngestFigures)>,
    /// Idle CPU (share of a core) and memory.
    pub idle: Option<(f64, Memory)>,
    /// Fan-out runs.
    pub fanout: Vec<IngestFigures>,
    /// The splitter's fan-out run.
    pub splitter: Option<SplitterFigures>,
    /// The distinct-accounts load.
    pub million_load: Option<Manifest>,
    /// Its ingest and the memory after it.
    pub million: Option<(IngestFigures, Memory)>,
    /// Where the perf profile is, when recorded.
    pub perf_data: Option<PathBuf>,
    /// Remarks (what was not measured and why).
    pub notes: Vec<String>,
}

impl Report {
    /// An empty report of a run of `size`.
    pub fn new(size: Size) -> Self {
        Self {
            size,
            ceiling: None,
            main_load: None,
            ingest: Vec::new(),
            replay_per_sec: None,
            paced: None,
            idle: None,
            fanout: Vec::new(),
            splitter: None,
            million_load: None,
            million: None,
            perf_data: None,
            notes: Vec::new(),
        }
    }

    /// The report as Markdown.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.heading());
        if let Some(load) = &self.main_load {
            let _ = writeln!(
                out,
                "\nLoad: {} PDS hosts served by a separate `atrelay-loadgen serve` process over \
                 loopback, {} accounts ({:.0} % p256 keys), {} events (`#identity`, `#account`, \
                 then commits of 1–4 creates/updates/deletes with real MSTs and sync-1.1 proofs), \
                 generated in {:.1} s. Every relay below is a fresh `atrelay serve` process \
                 (release build) with every check on, its hosts trusted so no rate limit \
                 applies.",
                load.hosts,
                thousands(load.accounts as f64),
                load.p256_share * 100.0,
                thousands(load.total_events() as f64),
                load.generated_in_secs
            );
        }
        if let Some(c) = &self.ceiling {
            let _ = writeln!(
                out,
                "\n| signature ceiling ({} threads, key parsed per verify) | verifies/s |\n| --- | ---: |\n\
                 | libsecp256k1 + ring (the relay's backends) | {} |\n| `k256` + `p256` (reference) | {} |",
                c.threads,
                thousands(c.fast),
                thousands(c.reference)
            );
        }
        if !self.ingest.is_empty() {
            let _ = writeln!(
                out,
                "\n| ingest flat out, one live consumer | events/s | CPU ms/event | cores | share of ceiling (fast / reference) | live consumer events/s | queue delay p50 / p99 | peak RSS (anon at end) | dropped |\n\
                 | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
            );
            for (store, f) in &self.ingest {
                let share = self.ceiling.map_or(String::from("—"), |c| {
                    format!(
                        "{:.0} % / {:.0} %",
                        100.0 * f.events_per_sec() / c.fast,
                        100.0 * f.events_per_sec() / c.reference
                    )
                });
                let _ = writeln!(
                    out,
                    "| {store} | {} | {:.3} | {:.2} | {share} | {} | {} | {:.0} MiB ({:.0} MiB) | {} |",
                    thousands(f.events_per_sec()),
                    f.cpu_ms_per_event(),
                    f.cores(),
                    thousands(f.live_per_sec),
                    delay(f.delay_ms),
                    mib(f.peak_rss),
                    mib(f.rss_anon),
                    f.dropped
                );
            }
        }
        let mut rows = Vec::new();
        if let Some((rate, f)) = &self.paced {
            rows.push(format!(
                "| live delay, upstream host → relay (SQLite) → consumer, load sent at {} events/s ({} events) | p50 {} ms, p99 {} ms; consumer received {} events/s |",
                thousands(*rate),
                thousands(f.events as f64),
                f.delay_ms.map_or(0, |d| d.0),
                f.delay_ms.map_or(0, |d| d.1),
                thousands(f.live_per_sec)
            ));
        }
        if let Some(rate) = self.replay_per_sec {
            rows.push(format!(
                "| replay from cursor 0, one consumer over the socket | {} events/s |",
                thousands(rate)
            ));
        }
        for f in &self.fanout {
            rows.push(format!(
                "| fan-out: {} consumers, {} events each, ingest included | {} deliveries/s (ingest {} events/s, delay p50 / p99 {}) |",
                f.consumers,
                thousands(f.events as f64),
                thousands(f.deliveries_per_sec()),
                thousands(f.events_per_sec()),
                delay(f.delay_ms)
            ));
        }
        if let Some(f) = &self.splitter {
            rows.push(format!(
                "| splitter: one `atrelay splitter` following the SQLite relay, {} consumers replaying its {} events from cursor 0 at once | {} deliveries/s; RSS {:.0} MiB before, {:.0} MiB with the consumers: {:.0} KiB per consumer |",
                f.consumers,
                thousands(f.events as f64),
                thousands(f.deliveries_per_sec()),
                mib(f.before.rss),
                mib(f.after.rss),
                f.rss_per_consumer() / 1024.0
            ));
        }
        if let Some((cpu, memory)) = self.idle {
            rows.push(format!(
                "| idle after the SQLite ingest: CPU, RSS (anonymous part) | {:.2} % of a core, {:.0} MiB ({:.0} MiB) |",
                cpu * 100.0,
                mib(memory.rss),
                mib(memory.anon)
            ));
        }
        if let (Some((f, memory)), Some(load)) = (&self.million, &self.million_load) {
            rows.push(format!(
                "| after ingesting {} distinct accounts (one commit each, SQLite, {} events/s, {:.3} CPU ms/event): RSS (anonymous part) | {:.0} MiB ({:.0} MiB) |",
                thousands(load.accounts as f64),
                thousands(f.events_per_sec()),
                f.cpu_ms_per_event(),
                mib(memory.rss),
                mib(memory.anon)
            ));
        }
        if !rows.is_empty() {
            let _ = writeln!(out, "\n| measure | figure |\n| --- | ---: |");
            for row in rows {
                let _ = writeln!(out, "{row}");
            }
        }
        if let Some(perf) = &self.perf_data {
            let _ = writeln!(
                out,
                "\nA `perf record -g` profile of the SQLite ingest is in `{}`.",
                perf.display()
            );
        }
        for note in &self.notes {
            let _ = writeln!(out, "\n{note}");
        }
        out
    }

    fn heading(&self) -> String {
        let size = match self.size {
            Size::Full => "full size",
            Size::Smoke => "smoke size: tiny loads, the figures mean nothing",
        };
        format!(
            "Run {} on {} ({size}). Machine: {}.",
            command_output("git", &["rev-parse", "--short", "HEAD"]).map_or_else(
                || "outside git".to_owned(),
                |rev| format!("at commit `{rev}`")
            ),
            atrelay_repo::syntax::format_datetime(std::time::SystemTime::now()),
            machine()
        )
    }

    /// Writes the report into `path` between [`BEGIN`] and [`END`], replacing what was there;
    /// a file without the markers gets them appended, a missing file is created.
    ///
    /// # Errors
    /// An I/O error.
    pub fn write_into(&self, path: &Path) -> Result<()> {
        let old = std::fs::read_to_string(path).unwrap_or_default();
        let block = format!("{BEGIN}\n{}{END}", self.render());
        let new = match (old.find(BEGIN), old.find(END)) {
            (Some(begin), Some(end)) if end > begin => {
                format!("{}{block}{}", &old[..begin], &old[end + END.len()..])
            }
            _ if old.is_empty() => format!("{block}\n"),
            _ => format!("{}\n{block}\n", old.trim_end()),
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, new).with_context(|| format!("writing {}", path.display()))
    }
}

fn delay(ms: Option<(u32, u32)>) -> String {
    ms.map_or_else(|| "—".to_owned(), |(p50, p99)| format!("{p50} / {p99} ms"))
}

/// A number with thousands separators, no decimals.
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// CPU model, cores, memory and kernel, from `/proc`.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, m)| m.trim())
        .to_owned();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|l| l.split_whitespace().next()?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / (1024.0 * 1024.0));
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{model}, {cores} cores available, {memory_gib:.0} GiB RAM, Linux {}",
        kernel.trim()
    )
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let output = std::process::Command::new(program)
        .args(args)
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_get_separators() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(12_345.0), "12,345");
        assert_eq!(thousands(1_000_000.0), "1,000,000");
    }

    #[test]
    fn the_report_replaces_only_its_block() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("perf.md");
        std::fs::write(&path, format!("# Before\n{BEGIN}\nold\n{END}\nafter\n")).unwrap();
        let mut report = Report::new(Size::Smoke);
        report.replay_per_sec = Some(1234.0);
        report.write_into(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# Before\n"));
        assert!(text.ends_with(&format!("{END}\nafter\n")));
        assert!(!text.contains("old"));
        assert!(text.contains("1,234 events/s"));
    }
}
