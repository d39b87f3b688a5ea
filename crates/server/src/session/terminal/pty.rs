//! One process on a pseudo-terminal, and the threads that serve it.
//!
//! Terminal sessions and agent-run terminals (`terminal/create`) share this
//! machinery:
//!
//! - the process is spawned on a PTY (portable-pty), as a session leader,
//!   so its process group id is its pid and signals reach all it started;
//! - a reader thread does the blocking reads and hands chunks to a pump
//!   thread over a small bounded channel; the pump decodes UTF-8 across
//!   chunk boundaries and coalesces output, flushing a few milliseconds
//!   after the first pending byte or once [`FLUSH_BYTES`] are pending, so a
//!   flood becomes a modest number of large frames; a small chunk after a
//!   quiet spell (a keystroke's echo) goes out at once;
//! - the sink the pump flushes into never waits for clients (the bus
//!   drops slow ones), and the bounded channel means a producer faster than
//!   the daemon is slowed by the PTY itself, not buffered in memory;
//! - a writer thread feeds input, behind a bounded queue;
//! - a waiter thread reaps the process, so nothing is left a zombie.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

use portable_pty::{CommandBuilder, MasterPty, PtySize, native_pty_system};
use switchyard_core::ErrorKind;
use tokio::sync::mpsc;

use super::decode::Utf8Decoder;
use crate::error::ApiError;

/// Flush pending output once this much is waiting.
pub const FLUSH_BYTES: usize = 32 * 1024;
/// Flush pending output this long after its first byte arrived.
pub const FLUSH_AFTER: Duration = Duration::from_millis(3);
/// Output after a quiet spell at least this long, ...
const QUIET: Duration = Duration::from_micros(500);
/// ... and no larger than this, goes out at once: a keystroke's echo does
/// not wait for the coalescing window (a flood never has quiet spells).
const ECHO_BYTES: usize = 256;
/// Read chunks in flight between the reader and the pump.
const CHUNKS_IN_FLIGHT: usize = 16;
/// Input writes queued for the PTY before input is refused.
const INPUT_QUEUE: usize = 256;

/// What to run.
#[derive(Debug, Clone)]
pub struct ProcSpec {
    /// Program (looked up on `PATH`).
    pub program: String,
    /// Arguments.
    pub args: Vec<String>,
    /// Working directory.
    pub cwd: PathBuf,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// Columns.
    pub cols: u16,
    /// Rows.
    pub rows: u16,
    /// No echo and no `\n` → `\r\n` translation: output as the program
    /// wrote it (agent-run commands, whose output an agent reads back).
    pub plain_output: bool,
}

impl ProcSpec {
    /// The command line, shell-quoted, for display.
    pub fn display(&self) -> String {
        let mut words = vec![self.program.as_str()];
        words.extend(self.args.iter().map(String::as_str));
        shell_words::join(words)
    }
}

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitInfo {
    /// Exit status, when it exited on its own.
    pub exit_code: Option<i64>,
    /// Signal name (`SIGHUP`, ...), when a signal ended it.
    pub signal: Option<String>,
}

/// What the process's threads report, in order per kind.
#[derive(Debug)]
pub enum ProcEvent {
    /// Every byte the PTY will ever give has been flushed to the sink.
    Drained,
    /// The process exited and was reaped.
    Exited(ExitInfo),
}

/// A running process on a PTY.
pub struct Proc {
    /// Its pid, also its process group and session id.
    pub pid: i32,
    master: Box<dyn MasterPty + Send>,
    input: Option<SyncSender<Vec<u8>>>,
}

/// Where decoded, coalesced output goes. Called on the pump thread; must
/// not block.
pub type Sink = Box<dyn FnMut(String) + Send>;

/// Spawns `spec` on a new PTY. Output goes to `sink`; the end of output
/// and the exit arrive on `events`.
pub fn spawn(
    spec: &ProcSpec,
    sink: Sink,
    events: mpsc::UnboundedSender<ProcEvent>,
) -> Result<Proc, ApiError> {
    let pair = native_pty_system()
        .openpty(PtySize {
            rows: spec.rows,
            cols: spec.cols,
            pixel_width: 0,
            pixel_height: 0,
        })
        .map_err(|e| ApiError::new(ErrorKind::IoError, format!("cannot open a PTY: {e}")))?;
    if spec.plain_output {
        plain_termios(pair.master.as_ref());
    }
    let mut cmd = CommandBuilder::new(&spec.program);
    cmd.args(&spec.args);
    cmd.cwd(&spec.cwd);
    if std::env::var_os("TERM").is_none() {
        cmd.env("TERM", "xterm-256color");
    }
    for (k, v) in &spec.env {
        cmd.env(k, v);
    }
    let mut child = pair
        .slave
        .spawn_command(cmd)
        .map_err(|e| spawn_error(spec, &e))?;
    // Our copy of the slave side must go, or reads never see end of file.
    drop(pair.slave);
    let pid = child.process_id().map_or(-1, |p| p as i32);
    let master = pair.master;
    let reader = master
        .try_clone_reader()
        .map_err(|e| ApiError::new(ErrorKind::IoError, format!("PTY reader: {e}")))?;
    let writer = master
        .take_writer()
        .map_err(|e| ApiError::new(ErrorKind::IoError, format!("PTY writer: {e}")))?;

    let (chunks_tx, chunks_rx) = sync_channel::<Vec<u8>>(CHUNKS_IN_FLIGHT);
    let fd = master.as_raw_fd();
    thread("pty-read", move || read_loop(reader, fd, chunks_tx));
    let drained = events.clone();
    thread("pty-pump", move || {
        pump(chunks_rx, sink);
        let _ = drained.send(ProcEvent::Drained);
    });
    let (input_tx, input_rx) = sync_channel::<Vec<u8>>(INPUT_QUEUE);
    thread("pty-write", move || write_loop(writer, input_rx));
    thread("pty-wait", move || {
        let info = match child.wait() {
            Ok(status) => exit_info(&status),
            Err(e) => {
                tracing::warn!("waiting for a terminal process failed: {e}");
                ExitInfo {
                    exit_code: None,
                    signal: None,
                }
            }
        };
        let _ = events.send(ProcEvent::Exited(info));
    });
    Ok(Proc {
        pid,
        master,
        input: Some(input_tx),
    })
}

impl Proc {
    /// Queues input for the process. Fails when the process no longer
    /// takes input or too much is already queued (a program that stopped
    /// reading).
    pub fn write(&self, data: Vec<u8>) -> Result<(), ApiError> {
        let Some(tx) = &self.input else {
            return Err(ApiError::new(
                ErrorKind::SessionBusy,
                "the terminal takes no more input",
            ));
        };
        tx.try_send(data).map_err(|e| match e {
            TrySendError::Full(_) => ApiError::new(
                ErrorKind::SessionBusy,
                "the terminal's input queue is full (the program is not reading)",
            )
            .retry_after(1),
            TrySendError::Disconnected(_) => {
                ApiError::new(ErrorKind::SessionBusy, "the terminal takes no more input")
            }
        })
    }

    /// Stops taking input (the writer thread ends once the queue drains).
    pub fn close_input(&mut self) {
        self.input = None;
    }

    /// Resizes the PTY (the program gets SIGWINCH).
    pub fn resize(&self, cols: u16, rows: u16) -> Result<(), ApiError> {
        self.master
            .resize(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .map_err(|e| ApiError::new(ErrorKind::IoError, format!("resize failed: {e}")))
    }

    /// Sends `signal` to the terminal's foreground process group (what a
    /// keyboard's Ctrl-C reaches: the job the shell is running), falling
    /// back to the process's own group.
    pub fn signal_foreground(&self, signal: i32) {
        let fg = self.master.process_group_leader().filter(|p| *p > 0);
        kill_group(fg.unwrap_or(self.pid), signal);
    }

    /// Sends `signal` to every process in the terminal's session: its own
    /// group and any job groups its shell created.
    pub fn signal_all(&self, signal: i32) {
        signal_session(self.pid, signal);
    }
}

/// Turns off echo and output post-processing on the PTY (before the
/// program starts, so it never sees the other settings).
fn plain_termios(master: &dyn MasterPty) {
    let Some(fd) = master.as_raw_fd() else {
        return;
    };
    // SAFETY: tcgetattr/tcsetattr on a PTY fd we own, with a zeroed termios
    // that tcgetattr fills in before it is used.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(fd, &mut t) == 0 {
            t.c_oflag &= !libc::OPOST;
            t.c_lflag &= !(libc::ECHO | libc::ECHONL);
            libc::tcsetattr(fd, libc::TCSANOW, &t);
        }
    }
}

fn thread(name: &str, f: impl FnOnce() + Send + 'static) {
    if let Err(e) = std::thread::Builder::new().name(name.into()).spawn(f) {
        tracing::error!("cannot start thread {name}: {e}");
    }
}

/// Reads until the PTY has no more output. A PTY hands out at most a few
/// KiB per read; what is already waiting is read on into the same chunk
/// (up to [`FLUSH_BYTES`]) before it goes to the pump, so a flood costs
/// one hand-over per ~32 KiB rather than one per read.
fn read_loop(mut reader: Box<dyn Read + Send>, fd: Option<i32>, chunks: SyncSender<Vec<u8>>) {
    let mut buf = vec![0u8; 2 * FLUSH_BYTES];
    loop {
        let mut n = match reader.read(&mut buf) {
            // Linux reports EIO once the last slave fd is closed: that is
            // the end of the output, as is 0.
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let mut ended = false;
        while n < FLUSH_BYTES && fd.is_some_and(readable_now) {
            match reader.read(&mut buf[n..]) {
                Ok(0) | Err(_) => {
                    ended = true;
                    break;
                }
                Ok(m) => n += m,
            }
        }
        if chunks.send(buf[..n].to_vec()).is_err() || ended {
            return;
        }
    }
}

/// Whether a read on `fd` would not block right now.
fn readable_now(fd: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one pollfd on a descriptor this PTY owns, no timeout.
    let r = unsafe { libc::poll(&mut p, 1, 0) };
    r == 1 && p.revents & libc::POLLIN != 0
}

fn pump(chunks: Receiver<Vec<u8>>, mut sink: Sink) {
    let mut decoder = Utf8Decoder::new();
    let mut pending = String::new();
    let mut deadline: Option<Instant> = None;
    let mut last_output = Instant::now();
    loop {
        let next = match deadline {
            None => chunks.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(d) => chunks.recv_timeout(d.saturating_duration_since(Instant::now())),
        };
        match next {
            Ok(chunk) => {
                let quiet = deadline.is_none() && last_output.elapsed() >= QUIET;
                last_output = Instant::now();
                decoder.decode(&chunk, &mut pending);
                if pending.len() >= FLUSH_BYTES || (quiet && pending.len() <= ECHO_BYTES) {
                    if !pending.is_empty() {
                        sink(std::mem::take(&mut pending));
                    }
                    deadline = None;
                } else if !pending.is_empty() && deadline.is_none() {
                    deadline = Some(last_output + FLUSH_AFTER);
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                if !pending.is_empty() {
                    sink(std::mem::take(&mut pending));
                }
                deadline = None;
            }
            Err(RecvTimeoutError::Disconnected) => {
                decoder.finish(&mut pending);
                if !pending.is_empty() {
                    sink(pending);
                }
                return;
            }
        }
    }
}

fn write_loop(mut writer: Box<dyn Write + Send>, input: Receiver<Vec<u8>>) {
    while let Ok(data) = input.recv() {
        if writer
            .write_all(&data)
            .and_then(|()| writer.flush())
            .is_err()
        {
            return;
        }
    }
}

fn spawn_error(spec: &ProcSpec, e: &anyhow::Error) -> ApiError {
    let not_found = e
        .chain()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::NotFound)
        || e.to_string().contains("No such file");
    if not_found {
        ApiError::new(
            ErrorKind::MissingBinary,
            format!("command not found: {}", spec.program),
        )
        .hint("give a program on PATH or an absolute path")
    } else {
        ApiError::new(
            ErrorKind::IoError,
            format!("could not start {}: {e}", spec.display()),
        )
    }
}

/// portable-pty describes a signal in words (`strsignal`); clients get the
/// `SIGHUP` form, as for agents.
fn exit_info(status: &portable_pty::ExitStatus) -> ExitInfo {
    match status.signal() {
        Some(desc) => ExitInfo {
            exit_code: None,
            signal: Some(signal_from_description(desc)),
        },
        None => ExitInfo {
            exit_code: Some(i64::from(status.exit_code())),
            signal: None,
        },
    }
}

fn signal_from_description(desc: &str) -> String {
    for sig in 1..32 {
        // SAFETY: strsignal returns a pointer to a static (or thread-local)
        // string, read at once.
        let name = unsafe {
            let p = libc::strsignal(sig);
            if p.is_null() {
                continue;
            }
            std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
        };
        if name == desc {
            return crate::session::agent::signal_name(sig);
        }
    }
    desc.to_string()
}

/// Signals a process group.
pub fn kill_group(pgid: i32, signal: i32) {
    crate::session::agent::kill_group(Some(pgid), signal);
}

/// Signals every process whose session id is `sid` (a shell's jobs live in
/// groups of their own but in its session), and the group `sid` itself.
pub fn signal_session(sid: i32, signal: i32) {
    if sid <= 0 {
        return;
    }
    kill_group(sid, signal);
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if session_of(pid) == Some(sid) {
            // SAFETY: kill only sends a signal; a pid that went away fails
            // with ESRCH.
            unsafe {
                libc::kill(pid, signal);
            }
        }
    }
}

/// Whether any process of session `sid` is still alive (zombies count).
pub fn session_alive(sid: i32) -> bool {
    std::fs::read_dir("/proc").is_ok_and(|dir| {
        dir.flatten().any(|e| {
            e.file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok())
                .is_some_and(|pid| session_of(pid) == Some(sid))
        })
    })
}

/// Field 6 of `/proc/<pid>/stat`.
fn session_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: skip
    // past its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(3)?.parse().ok()
}
