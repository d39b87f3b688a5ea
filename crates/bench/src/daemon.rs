//! The daemon under test: a real `switchyard serve` child process, plus what
//! `/proc` says about it (RSS, CPU time, fd limit).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use rand::RngCore;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

/// How long a daemon gets to print its listening line.
const START_DEADLINE: Duration = Duration::from_secs(20);
/// How long a daemon gets to exit after SIGTERM before SIGKILL.
const STOP_DEADLINE: Duration = Duration::from_secs(10);

/// Finds the `switchyard` binary: `--switchyard`, else next to this
/// executable (both land in `target/release/`).
/// How the daemon under test keeps its sessions (`--journal`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum JournalMode {
    /// `--no-journal`: in memory, as before issue 7.
    Off,
    /// The journal with `--journal-sync normal` (the daemon's default).
    #[default]
    On,
    /// The journal with `--journal-sync full` (fsync every commit).
    Full,
}

impl JournalMode {
    /// The daemon flags for this mode.
    pub fn flags(self) -> Vec<String> {
        match self {
            JournalMode::Off => vec!["--no-journal".into()],
            JournalMode::On => vec!["--journal-sync".into(), "normal".into()],
            JournalMode::Full => vec!["--journal-sync".into(), "full".into()],
        }
    }

    /// `off`, `on`, `full`.
    pub fn name(self) -> &'static str {
        match self {
            JournalMode::Off => "off",
            JournalMode::On => "on",
            JournalMode::Full => "full",
        }
    }
}

pub fn find_binary(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = given {
        if p.is_file() {
            return Ok(p.to_path_buf());
        }
        bail!("--switchyard {}: no such file", p.display());
    }
    let exe = std::env::current_exe().context("current_exe")?;
    let candidate = exe.with_file_name("switchyard");
    if candidate.is_file() {
        return Ok(candidate);
    }
    bail!(
        "no `switchyard` binary next to {}; build it with \
         `cargo build --release -p switchyard-server -p switchyard-bench` \
         or pass --switchyard PATH",
        exe.display()
    )
}

/// A random bearer token (hex).
pub fn random_token() -> String {
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A spawned but not necessarily listening daemon.
pub struct Spawned {
    child: Child,
    stdout: BufReader<ChildStdout>,
    /// The daemon's pid.
    pub pid: u32,
    /// Its bearer token.
    pub token: String,
    /// When `spawn` was called.
    pub spawned_at: Instant,
    dir: tempfile::TempDir,
}

/// A listening daemon.
pub struct Daemon {
    child: Child,
    /// The daemon's pid.
    pub pid: u32,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its bearer token.
    pub token: String,
    /// Spawn → listening line on stdout.
    pub time_to_listening: Duration,
    dir: tempfile::TempDir,
}

impl Spawned {
    /// Spawns `bin serve --listen LISTEN --data-dir <tmp> --token <random>`
    /// plus `extra`. Stderr (the log, at warn) goes to `<tmp>/daemon.log`;
    /// the demo agent keeps its state under `<tmp>` too.
    pub fn spawn(bin: &Path, listen: &str, extra: &[String]) -> Result<Spawned> {
        let dir = tempfile::Builder::new()
            .prefix("switchyard-bench-")
            .tempdir()?;
        let token = random_token();
        let log = std::fs::File::create(dir.path().join("daemon.log"))?;
        let spawned_at = Instant::now();
        let mut child = Command::new(bin)
            .arg("serve")
            .args(["--listen", listen])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--token", &token])
            .args(extra)
            .env("SWITCHYARD_LOG", "switchyard_server=warn")
            .env(
                "SWITCHYARD_DEMO_AGENT_STATE_DIR",
                dir.path().join("agent-state"),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawning {}", bin.display()))?;
        let pid = child.id().ok_or_else(|| anyhow!("daemon exited at once"))?;
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        Ok(Spawned {
            child,
            stdout,
            pid,
            token,
            spawned_at,
            dir,
        })
    }

    /// Waits for `switchyard listening on http://ADDR` and the `open` line.
    pub async fn listening(mut self) -> Result<Daemon> {
        let mut addr = None;
        let read = async {
            let mut line = String::new();
            loop {
                line.clear();
                if self.stdout.read_line(&mut line).await? == 0 {
                    bail!("daemon closed stdout before listening");
                }
                if let Some(rest) = line.trim().strip_prefix("switchyard listening on http://") {
                    addr = Some((rest.parse::<SocketAddr>()?, self.spawned_at.elapsed()));
                }
                if line.starts_with("open ") {
                    return Ok(());
                }
            }
        };
        match tokio::time::timeout(START_DEADLINE, read).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => bail!("{e}; log: {}", self.log_tail()),
            Err(_) => bail!("daemon did not listen within {START_DEADLINE:?}"),
        }
        let (addr, time_to_listening) = addr.ok_or_else(|| anyhow!("no listening line"))?;
        // Nothing else comes on stdout; drop the pipe's reader side only
        // after the child is gone (it never writes again).
        Ok(Daemon {
            child: self.child,
            pid: self.pid,
            addr,
            token: self.token,
            time_to_listening,
            dir: self.dir,
        })
    }

    fn log_tail(&self) -> String {
        log_tail(self.dir.path())
    }
}

fn log_tail(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("daemon.log")).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}

impl Daemon {
    /// Spawns a daemon on 127.0.0.1:0 and waits until it listens.
    pub async fn start(bin: &Path, extra: &[String]) -> Result<Daemon> {
        Spawned::spawn(bin, "127.0.0.1:0", extra)?.listening().await
    }

    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A scratch directory that lives as long as the daemon (session cwd).
    pub fn workspace(&self) -> Result<PathBuf> {
        let p = self.dir.path().join("workspace");
        std::fs::create_dir_all(&p)?;
        Ok(p)
    }

    /// Lines of the daemon's log (stderr) that contain `needle`.
    pub fn log_count(&self, needle: &str) -> usize {
        std::fs::read_to_string(self.dir.path().join("daemon.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// SIGTERM, wait (SIGKILL after a deadline).
    pub async fn stop(mut self) -> Result<()> {
        terminate(&mut self.child, self.pid).await
    }
}

/// SIGTERM `child`, then SIGKILL if it has not exited within the deadline.
pub async fn terminate(child: &mut Child, pid: u32) -> Result<()> {
    // SAFETY: plain kill(2) on our own child's pid.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGTERM);
    }
    match tokio::time::timeout(STOP_DEADLINE, child.wait()).await {
        Ok(r) => {
            r?;
        }
        Err(_) => {
            child.kill().await?;
        }
    }
    Ok(())
}

/// A `kB` field of `/proc/<pid>/status` (`VmRSS`, `VmHWM`), in bytes.
pub fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(field)?.strip_prefix(':')?;
        let kb: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kb * 1024)
    })
}

/// Resident set size in bytes.
pub fn rss(pid: u32) -> Option<u64> {
    status_kb(pid, "VmRSS")
}

/// User + system CPU seconds consumed by `pid` so far.
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may
    // contain spaces: state is field 3, utime 14, stime 15.
    let after = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some((utime + stime) / hz)
}

/// Write syscalls `pid` has made so far (`syscw` in `/proc/<pid>/io`).
pub fn write_syscalls(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("syscw:"))
        .and_then(|v| v.trim().parse().ok())
}

/// CPU seconds of this process (the bench's clients).
pub fn self_cpu_secs() -> f64 {
    cpu_secs(std::process::id()).unwrap_or(0.0)
}

/// Direct children of `pid` (the daemon's agents), whichever of its
/// threads spawned them.
pub fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("children")).ok())
        .flat_map(|s| {
            s.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// The soft "Max open files" limit of `pid`.
pub fn fd_limit(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Raises this process's soft NOFILE limit to the hard limit; returns the
/// new soft limit. Children (the daemon) inherit it.
pub fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: get/setrlimit with a valid pointer to a local.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < lim.rlim_max {
            let mut want = lim;
            want.rlim_cur = lim.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                lim = want;
            }
        }
    }
    lim.rlim_cur
}

/// The 1-minute load average (other builds share this machine).
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(String::from))
        .unwrap_or_else(|| "?".into())
}
