//! What every scenario shares: workers looping one timed operation until a deadline (optionally
//! paced), the latencies and errors by kind they collect, the server's and the generator's CPU
//! and the server's memory from `/proc`, and the [`Report`] with its JSON and text forms.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

/// One worker of a run: a client that repeats one operation (a request, or a whole flow).
pub(crate) trait Worker: Send + 'static {
    /// One operation: `Ok` with its latency (the part that is timed; signing done before, or a
    /// token renewed on the way, is not), or `Err` with the kind of failure (`http 400`,
    /// `connect`...: a short label, never a secret or a token).
    fn once(&mut self) -> impl Future<Output = Result<Duration, String>> + Send;

    /// Time spent signing DPoP proofs or client assertions outside the timed part, in total.
    fn signing(&self) -> Duration {
        Duration::ZERO
    }
}

/// Runs `workers` until `duration` has passed (each at `rate / workers` operations per second
/// when `rate` is given), measuring the server `pid`'s CPU and memory. `signs`: the operations
/// carry something signed per request (the report then shows the signing time per request).
pub(crate) async fn drive<W: Worker>(
    workers: Vec<W>,
    duration: Duration,
    rate: Option<f64>,
    pid: Option<u32>,
    signs: bool,
) -> anyhow::Result<Report> {
    let concurrency = workers.len().max(1);
    let cpu_before = pid.and_then(tree_cpu_seconds);
    let own_before = tree_cpu_seconds(std::process::id());
    let started = Instant::now();
    let deadline = started + duration;
    let pace = rate
        .filter(|r| *r > 0.0)
        .map(|r| Duration::from_secs_f64(concurrency as f64 / r));
    let handles: Vec<_> = workers
        .into_iter()
        .map(|mut worker| {
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut errors: BTreeMap<String, u64> = BTreeMap::new();
                let mut ticks = pace.map(|p| {
                    let mut i = tokio::time::interval(p);
                    i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                    i
                });
                while Instant::now() < deadline {
                    if let Some(t) = ticks.as_mut() {
                        t.tick().await;
                    }
                    match worker.once().await {
                        Ok(took) => lat.push(took.as_micros().min(u32::MAX as u128) as u32),
                        Err(kind) => *errors.entry(kind).or_default() += 1,
                    }
                }
                (lat, errors, worker.signing())
            })
        })
        .collect();
    let mut latencies_us = Vec::new();
    let mut errors = BTreeMap::new();
    let mut signing = Duration::ZERO;
    for h in handles {
        let (l, e, s) = h.await?;
        latencies_us.extend(l);
        for (k, v) in e {
            *errors.entry(k).or_insert(0) += v;
        }
        signing += s;
    }
    let elapsed = started.elapsed();
    let cpu_after = pid.and_then(tree_cpu_seconds);
    let own_after = tree_cpu_seconds(std::process::id());
    latencies_us.sort_unstable();
    let delta = |b: Option<f64>, a: Option<f64>| b.zip(a).map(|(b, a)| (a - b).max(0.0));
    Ok(Report {
        elapsed,
        latencies_us,
        errors,
        rss_kb: pid.and_then(rss_kb),
        server_cpu_seconds: delta(cpu_before, cpu_after),
        generator_cpu_seconds: delta(own_before, own_after),
        signing,
        signs,
    })
}

/// Results of a run.
pub struct Report {
    elapsed: Duration,
    latencies_us: Vec<u32>,
    errors: BTreeMap<String, u64>,
    rss_kb: Option<(u64, u64)>,
    /// CPU seconds (user + system) the server's process tree used during the run.
    server_cpu_seconds: Option<f64>,
    /// CPU seconds the load generator (this process) used during the run.
    generator_cpu_seconds: Option<f64>,
    /// Time spent signing DPoP proofs and client assertions, all workers together.
    signing: Duration,
    /// Whether requests carried anything signed per request.
    signs: bool,
}

/// User + system CPU seconds of a process, its threads and its child processes (nginx's
/// workers are children of the master whose PID is given), from `/proc`.
fn tree_cpu_seconds(pid: u32) -> Option<f64> {
    // USER_HZ is 100 on every Linux configuration the kernel exposes to user space.
    const TICKS_PER_SECOND: f64 = 100.0;
    fn ticks(pid: u32, depth: u32) -> Option<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
        let rest = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let own = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        let mut children = 0;
        if depth < 4 {
            if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
                for task in tasks.flatten() {
                    let list =
                        std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
                    for child in list
                        .split_whitespace()
                        .filter_map(|c| c.parse::<u32>().ok())
                    {
                        children += ticks(child, depth + 1).unwrap_or(0);
                    }
                }
            }
        }
        Some(own + children)
    }
    ticks(pid, 0).map(|t| t as f64 / TICKS_PER_SECOND)
}

/// (VmRSS, VmHWM) of a process, in KiB.
fn rss_kb(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

impl Report {
    fn pct(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let i = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_us[i] as f64 / 1000.0
    }

    /// Requests (or flows) that failed, all kinds.
    pub fn errors_total(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Successful requests (or flows).
    pub fn requests(&self) -> usize {
        self.latencies_us.len()
    }

    /// Failures by kind (`connect`, `tls`, `http 401`, ...).
    pub fn errors(&self) -> &BTreeMap<String, u64> {
        &self.errors
    }

    /// Server CPU time per successful request, in microseconds: the fair figure when the load
    /// generator, not the server, is what saturates (two cores shared by everything).
    fn cpu_us_per_request(&self) -> Option<f64> {
        let n = self.latencies_us.len();
        self.server_cpu_seconds
            .filter(|_| n > 0)
            .map(|cpu| cpu * 1e6 / n as f64)
    }

    /// The load generator's own CPU time per successful request, in microseconds (signing,
    /// TLS, HTTP): when it nears 1e6 / requests-per-second the generator, not the server, is the
    /// limit.
    fn generator_cpu_us_per_request(&self) -> Option<f64> {
        let n = self.latencies_us.len();
        self.generator_cpu_seconds
            .filter(|_| n > 0)
            .map(|cpu| cpu * 1e6 / n as f64)
    }

    /// Time spent signing DPoP proofs and client assertions per request, in microseconds (the
    /// attempts that failed included); `None` when nothing is signed per request.
    fn signing_us_per_request(&self) -> Option<f64> {
        let n = self.latencies_us.len() as u64 + self.errors_total();
        (self.signs && n > 0).then(|| self.signing.as_secs_f64() * 1e6 / n as f64)
    }

    /// How long the run took, in seconds.
    pub(crate) fn elapsed_seconds(&self) -> f64 {
        self.elapsed.as_secs_f64()
    }

    fn rps(&self) -> f64 {
        self.latencies_us.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// The figures of every scenario as one JSON object (`requests` counts what `unit` names:
    /// `request`, or `flow` for the user flows); the caller adds what describes its setup.
    pub(crate) fn figures_json(
        &self,
        scenario: &str,
        unit: &str,
        concurrency: usize,
    ) -> serde_json::Map<String, serde_json::Value> {
        let v = serde_json::json!({
            "scenario": scenario,
            "unit": unit,
            "concurrency": concurrency,
            "seconds": self.elapsed.as_secs_f64(),
            "requests": self.latencies_us.len(),
            "requests_per_second": self.rps(),
            "latency_ms": {"p50": self.pct(0.50), "p90": self.pct(0.90), "p99": self.pct(0.99), "max": self.pct(1.0)},
            "errors": self.errors,
            "server_rss_kb": self.rss_kb.map(|r| r.0),
            "server_peak_rss_kb": self.rss_kb.map(|r| r.1),
            "server_cpu_seconds": self.server_cpu_seconds,
            "server_cpu_us_per_request": self.cpu_us_per_request(),
            "generator_cpu_seconds": self.generator_cpu_seconds,
            "generator_cpu_us_per_request": self.generator_cpu_us_per_request(),
            "signing_us_per_request": self.signing_us_per_request(),
        });
        match v {
            serde_json::Value::Object(map) => map,
            _ => unreachable!("a JSON object literal"),
        }
    }

    /// The figures for people, after a heading the caller printed; `unit` is what one
    /// operation is (`request`, `flow`).
    pub(crate) fn print_figures(&self, unit: &str) {
        println!(
            "  {unit}s/s  {:.0}  ({} {unit}s)",
            self.rps(),
            self.latencies_us.len()
        );
        println!(
            "  latency ms  p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
            self.pct(0.5),
            self.pct(0.9),
            self.pct(0.99),
            self.pct(1.0)
        );
        println!(
            "  errors      {}{}",
            self.errors_total(),
            if self.errors.is_empty() {
                String::new()
            } else {
                format!(" {:?}", self.errors)
            }
        );
        if let (Some(cpu), Some(per)) = (self.server_cpu_seconds, self.cpu_us_per_request()) {
            println!(
                "  server CPU  {:.2} s ({:.0}% of one core), {per:.1} µs per {unit}",
                cpu,
                100.0 * cpu / self.elapsed.as_secs_f64()
            );
        }
        if let (Some(cpu), Some(per)) = (
            self.generator_cpu_seconds,
            self.generator_cpu_us_per_request(),
        ) {
            println!(
                "  load CPU    {:.2} s ({:.0}% of one core), {per:.1} µs per {unit}{}",
                cpu,
                100.0 * cpu / self.elapsed.as_secs_f64(),
                self.signing_us_per_request()
                    .map(|s| format!(", of which signing {s:.1} µs"))
                    .unwrap_or_default()
            );
        }
        if let Some((rss, hwm)) = self.rss_kb {
            println!(
                "  server RSS  {:.1} MB (peak {:.1} MB)",
                rss as f64 / 1024.0,
                hwm as f64 / 1024.0
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_of_a_process_tree_is_read_from_proc() {
        let me = std::process::id();
        let before = tree_cpu_seconds(me).expect("this process's CPU time");
        // Burn CPU until the kernel's 10 ms accounting shows it (bounded, in case it never does).
        let started = Instant::now();
        let mut x = 0u64;
        while tree_cpu_seconds(me).unwrap_or(before) <= before
            && started.elapsed() < Duration::from_secs(10)
        {
            for i in 0..100_000u64 {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
            std::hint::black_box(x);
        }
        assert!(tree_cpu_seconds(me).unwrap() > before);
        assert_eq!(tree_cpu_seconds(u32::MAX), None, "no such process");
    }

    struct Counter(u32);

    impl Worker for Counter {
        async fn once(&mut self) -> Result<Duration, String> {
            self.0 += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
            if self.0.is_multiple_of(2) {
                Err("even".to_owned())
            } else {
                Ok(Duration::from_millis(1))
            }
        }
    }

    #[tokio::test]
    async fn workers_run_until_the_deadline_and_errors_are_counted_by_kind() {
        let r = drive(
            vec![Counter(0), Counter(0)],
            Duration::from_millis(100),
            None,
            None,
            false,
        )
        .await
        .unwrap();
        assert!(r.requests() >= 2, "{}", r.requests());
        assert!(r.errors()["even"] >= 2);
        assert_eq!(r.pct(0.99), 1.0);
        assert_eq!(r.figures_json("x", "flow", 2)["unit"], "flow");
    }
}
