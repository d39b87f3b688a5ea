//! The agent's `fs/read_text_file` and `fs/write_text_file`, confined to the
//! session's workspace.
//!
//! - A path is accepted only if it stays inside the workspace both lexically
//!   (no `..` escape, no absolute path elsewhere → `path_outside_workspace`)
//!   and physically: every symlink along it is followed, and where it ends —
//!   existing or not, so a dangling link cannot be used to create a file
//!   elsewhere — must be inside (`symlink_escape`).
//! - Reads and writes are capped (`--max-read-bytes`, `--max-write-bytes`
//!   → `file_too_large`); a read of non-UTF-8 or NUL-bearing content is
//!   `binary_file`.
//! - Workspaces outside the trusted roots (`--trusted-root`, default the
//!   daemon's working directory) are read-only for agents
//!   (`untrusted_workspace`).
//! - A write goes to a fresh temporary file that is renamed into place, so a
//!   reader never sees half a file; writes to one path are serialized
//!   daemon-wide, so concurrent writers never lose the rename race to each
//!   other's temp file. A new file gets mode 0600; an existing one keeps its
//!   mode.
//!
//! Refusals travel back to the agent as JSON-RPC errors whose `data`
//! carries `errorKind` and `hint`.
//!
//! This confines the ACP file methods, not the agent process: an agent can
//! still touch the disk with its own system calls.

use std::collections::{HashMap, VecDeque};
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use rand::RngCore;
use serde_json::{Value, json};
use switchyard_core::ErrorKind;
use tokio::io::AsyncReadExt;

/// Symlinks followed while resolving one path before giving up (as the
/// kernel's ELOOP limit).
const MAX_SYMLINK_HOPS: usize = 40;

/// A refused or failed file operation.
#[derive(Debug, Clone)]
pub struct FsError {
    /// Classification.
    pub kind: ErrorKind,
    /// What happened.
    pub message: String,
    /// What to do.
    pub hint: Option<String>,
}

impl FsError {
    fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        FsError {
            kind,
            message: message.into(),
            hint: None,
        }
    }

    fn hint(mut self, h: impl Into<String>) -> Self {
        self.hint = Some(h.into());
        self
    }

    fn io(path: &Path, e: std::io::Error) -> Self {
        let hint = match e.kind() {
            std::io::ErrorKind::NotFound => "check the path; it does not exist",
            std::io::ErrorKind::PermissionDenied => "the daemon's user may not access this file",
            _ => "a filesystem error; the message says which",
        };
        FsError::new(ErrorKind::IoError, format!("{}: {e}", path.display())).hint(hint)
    }

    /// The JSON-RPC error sent to the agent: `data` is
    /// `{"errorKind", "hint"}`.
    pub fn into_acp(self) -> agent_client_protocol::Error {
        let mut data = json!({ "errorKind": self.kind.as_str() });
        if let Some(h) = &self.hint {
            data["hint"] = h.as_str().into();
        }
        // Invalid params for requests that could never work; internal
        // error for everything the daemon refused or failed at.
        let code = if self.kind == ErrorKind::InvalidRequest {
            -32602
        } else {
            -32603
        };
        agent_client_protocol::Error::new(code, self.message).data(data)
    }
}

/// Daemon-wide file-access settings, shared by every session.
#[derive(Debug)]
pub struct FsPolicy {
    /// Largest file an agent may read.
    pub max_read_bytes: u64,
    /// Largest content an agent may write.
    pub max_write_bytes: u64,
    /// Canonical directories whose workspaces agents may write in.
    pub trusted_roots: Vec<PathBuf>,
    locks: PathLocks,
}

impl FsPolicy {
    /// `trusted_roots` should be canonical (symlink-free) paths.
    pub fn new(max_read_bytes: u64, max_write_bytes: u64, trusted_roots: Vec<PathBuf>) -> Self {
        FsPolicy {
            max_read_bytes,
            max_write_bytes,
            trusted_roots,
            locks: PathLocks::default(),
        }
    }

    /// File access for a session whose workspace is `root` (canonical).
    pub fn workspace(self: &Arc<Self>, root: PathBuf) -> Workspace {
        let trusted = self.trusted_roots.iter().any(|t| root.starts_with(t));
        Workspace {
            root,
            trusted,
            policy: self.clone(),
        }
    }

    /// Paths with a live write lock (for tests: entries go away when
    /// unused).
    pub fn locked_paths(&self) -> usize {
        self.locks.map.lock().expect("path locks").len()
    }
}

/// One session's view of the filesystem.
#[derive(Debug, Clone)]
pub struct Workspace {
    root: PathBuf,
    trusted: bool,
    policy: Arc<FsPolicy>,
}

/// One async mutex per path being written, removed once nobody holds or
/// waits for it.
#[derive(Debug, Default)]
struct PathLocks {
    map: Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>,
}

struct PathGuard<'a> {
    locks: &'a PathLocks,
    path: PathBuf,
    held: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl PathLocks {
    async fn lock(&self, path: &Path) -> PathGuard<'_> {
        let m = self
            .map
            .lock()
            .expect("path locks")
            .entry(path.to_path_buf())
            .or_default()
            .clone();
        PathGuard {
            locks: self,
            path: path.to_path_buf(),
            held: Some(m.lock_owned().await),
        }
    }
}

impl Drop for PathGuard<'_> {
    fn drop(&mut self) {
        self.held.take();
        let mut map = self.locks.map.lock().expect("path locks");
        // Waiters clone the Arc under this same lock, so a count of one
        // (the map's) means nobody else wants it.
        if map
            .get(&self.path)
            .is_some_and(|m| Arc::strong_count(m) == 1)
        {
            map.remove(&self.path);
        }
    }
}

/// Removes `.` and resolves `..` without touching the filesystem; `None`
/// when `..` would climb above the filesystem root.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Prefix(_) | Component::RootDir => out.push(c.as_os_str()),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Normal(p) => out.push(p),
        }
    }
    Some(out)
}

fn outside(requested: &str, root: &Path) -> FsError {
    FsError::new(
        ErrorKind::PathOutsideWorkspace,
        format!("{requested} is outside the workspace {}", root.display()),
    )
    .hint("agents may only touch files inside the session's workspace; use a path under it")
}

fn escape(requested: &str, root: &Path) -> FsError {
    FsError::new(
        ErrorKind::SymlinkEscape,
        format!(
            "{requested} leads outside the workspace {} through a symlink",
            root.display()
        ),
    )
    .hint("a symlink on this path points outside the workspace; agents may not follow it")
}

/// Resolves an agent-supplied path inside `root` (canonical), following
/// symlinks the way the kernel would. Relative paths are taken relative to
/// the workspace. The result is symlink-free up to its first missing
/// component.
pub fn confine(root: &Path, requested: &str) -> Result<PathBuf, FsError> {
    if requested.is_empty() || requested.contains('\0') {
        return Err(FsError::new(
            ErrorKind::InvalidRequest,
            "the path is empty or contains NUL",
        )
        .hint("send an absolute path inside the workspace, or one relative to it"));
    }
    let lexical = normalize(&root.join(requested))
        .filter(|p| p.starts_with(root))
        .ok_or_else(|| outside(requested, root))?;
    let rel = lexical.strip_prefix(root).expect("checked above");
    let mut pending: VecDeque<OsString> =
        rel.components().map(|c| c.as_os_str().to_owned()).collect();
    let mut cur = root.to_path_buf();
    let mut hops = 0;
    let mut missing = false;
    while let Some(part) = pending.pop_front() {
        if part == ".." {
            if missing {
                // The kernel would stop at the missing directory; going on
                // would skip the symlink checks for what follows.
                return Err(FsError::io(
                    &cur,
                    std::io::Error::from(std::io::ErrorKind::NotFound),
                ));
            }
            cur.pop();
            continue;
        }
        if part == "." || part.is_empty() {
            continue;
        }
        let next = cur.join(&part);
        if missing {
            cur = next;
            continue;
        }
        match std::fs::symlink_metadata(&next) {
            Ok(meta) if meta.file_type().is_symlink() => {
                hops += 1;
                if hops > MAX_SYMLINK_HOPS {
                    return Err(FsError::new(
                        ErrorKind::IoError,
                        format!("{requested}: too many levels of symbolic links"),
                    )
                    .hint("a symlink loop; fix or remove the links"));
                }
                let target = std::fs::read_link(&next).map_err(|e| FsError::io(&next, e))?;
                if target.is_absolute() {
                    cur = PathBuf::from("/");
                }
                for c in target.components().rev() {
                    if !matches!(c, Component::RootDir | Component::Prefix(_)) {
                        pending.push_front(c.as_os_str().to_owned());
                    }
                }
            }
            Ok(_) => cur = next,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                missing = true;
                cur = next;
            }
            Err(e) => return Err(FsError::io(&next, e)),
        }
    }
    if !cur.starts_with(root) {
        return Err(escape(requested, root));
    }
    Ok(cur)
}

fn path_param(params: &Value) -> Result<&str, FsError> {
    params.get("path").and_then(Value::as_str).ok_or_else(|| {
        FsError::new(ErrorKind::InvalidRequest, "missing \"path\"")
            .hint("fs requests need a string \"path\"")
    })
}

impl Workspace {
    /// The workspace directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether agents may write here.
    pub fn trusted(&self) -> bool {
        self.trusted
    }

    /// `fs/read_text_file {path, line?, limit?}` → `{content}`.
    pub async fn read_text_file(&self, params: &Value) -> Result<Value, FsError> {
        let requested = path_param(params)?;
        let path = confine(&self.root, requested)?;
        let max = self.policy.max_read_bytes;
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| FsError::io(&path, e))?;
        let meta = file.metadata().await.map_err(|e| FsError::io(&path, e))?;
        if meta.is_dir() {
            return Err(FsError::new(
                ErrorKind::InvalidRequest,
                format!("{requested} is a directory"),
            )
            .hint("fs/read_text_file reads files"));
        }
        let too_large = |len: u64| {
            FsError::new(
                ErrorKind::FileTooLarge,
                format!("{requested} is {len} bytes; the read limit is {max}"),
            )
            .hint("read a smaller file, or raise the daemon's --max-read-bytes")
        };
        if meta.len() > max {
            return Err(too_large(meta.len()));
        }
        // The file may grow between stat and read: read one byte past the
        // cap to notice.
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        file.take(max + 1)
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| FsError::io(&path, e))?;
        if bytes.len() as u64 > max {
            return Err(too_large(bytes.len() as u64));
        }
        let text = String::from_utf8(bytes)
            .ok()
            .filter(|t| !t.contains('\0'))
            .ok_or_else(|| {
                FsError::new(
                    ErrorKind::BinaryFile,
                    format!("{requested} is not a UTF-8 text file"),
                )
                .hint("only text files can be read through fs/read_text_file")
            })?;
        let line = params
            .get("line")
            .and_then(Value::as_u64)
            .unwrap_or(1)
            .max(1) as usize;
        let limit = params
            .get("limit")
            .and_then(Value::as_u64)
            .map(|l| l as usize);
        let content = if line == 1 && limit.is_none() {
            text
        } else {
            let lines = text.split_inclusive('\n').skip(line - 1);
            match limit {
                Some(n) => lines.take(n).collect(),
                None => lines.collect(),
            }
        };
        Ok(json!({ "content": content }))
    }

    /// `fs/write_text_file {path, content}` → `{}`; atomic, serialized per
    /// path.
    pub async fn write_text_file(&self, params: &Value) -> Result<Value, FsError> {
        if !self.trusted {
            return Err(FsError::new(
                ErrorKind::UntrustedWorkspace,
                format!(
                    "the workspace {} is outside the trusted roots, so it is read-only for agents",
                    self.root.display()
                ),
            )
            .hint("start the daemon with --trusted-root <dir> covering this workspace"));
        }
        let requested = path_param(params)?;
        let content = params
            .get("content")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                FsError::new(ErrorKind::InvalidRequest, "missing \"content\"")
                    .hint("fs/write_text_file needs a string \"content\"")
            })?;
        let max = self.policy.max_write_bytes;
        if content.len() as u64 > max {
            return Err(FsError::new(
                ErrorKind::FileTooLarge,
                format!(
                    "{} bytes for {requested} is over the {max}-byte write limit",
                    content.len()
                ),
            )
            .hint("write less, or raise the daemon's --max-write-bytes"));
        }
        let path = confine(&self.root, requested)?;
        let _guard = self.policy.locks.lock(&path).await;
        let content = content.to_string();
        tokio::task::spawn_blocking(move || write_atomic(&path, content.as_bytes()))
            .await
            .map_err(|e| FsError::new(ErrorKind::Internal, format!("write task failed: {e}")))??;
        Ok(json!({}))
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FsError> {
    use std::io::Write;
    let dir = path.parent().ok_or_else(|| {
        FsError::new(
            ErrorKind::InvalidRequest,
            "the path has no parent directory",
        )
        .hint("name a file, not the filesystem root")
    })?;
    std::fs::create_dir_all(dir).map_err(|e| FsError::io(dir, e))?;
    let existing_mode = std::fs::metadata(path).ok().map(|m| m.permissions());
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut suffix = [0u8; 6];
    rand::rng().fill_bytes(&mut suffix);
    let suffix: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = dir.join(format!(".{name}.{suffix}.switchyard.tmp"));
    let mut opts = std::fs::OpenOptions::new();
    // create_new: never write through something already at the temp name.
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let result = (|| {
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        if let Some(perm) = existing_mode {
            f.set_permissions(perm)?;
        }
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        FsError::io(path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(read: u64, write: u64, trusted: &Path) -> Arc<FsPolicy> {
        Arc::new(FsPolicy::new(read, write, vec![trusted.to_path_buf()]))
    }

    fn canonical_tempdir() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        (dir, root)
    }

    #[tokio::test]
    async fn round_trip_and_lexical_escapes() {
        let (_d, root) = canonical_tempdir();
        let ws = policy(1 << 20, 1 << 20, &root).workspace(root.clone());
        let p = root.join("a/b.txt");
        ws.write_text_file(&json!({"path": p, "content": "hi\nthere\n"}))
            .await
            .unwrap();
        let r = ws
            .read_text_file(&json!({"path": "a/b.txt", "line": 2}))
            .await
            .unwrap();
        assert_eq!(r["content"], "there\n");
        for bad in ["../x", "/etc/passwd", "a/../../x", ".."] {
            assert_eq!(
                confine(&root, bad).unwrap_err().kind,
                ErrorKind::PathOutsideWorkspace,
                "{bad}"
            );
        }
        assert_eq!(confine(&root, "a/../c").unwrap(), root.join("c"));
        assert_eq!(
            confine(&root, "").unwrap_err().kind,
            ErrorKind::InvalidRequest
        );
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn symlinks_are_followed_and_must_stay_inside() {
        use std::os::unix::fs::symlink;
        let (_d, root) = canonical_tempdir();
        let (_o, out) = canonical_tempdir();
        std::fs::create_dir(root.join("sub")).unwrap();
        symlink(&out, root.join("out")).unwrap();
        symlink(out.join("nope.txt"), root.join("dangling_out")).unwrap();
        symlink("sub/new.txt", root.join("dangling_in")).unwrap();
        symlink("sub", root.join("inner")).unwrap();
        symlink("loop", root.join("loop")).unwrap();
        // A relative link that climbs out.
        symlink("../../..", root.join("sub/up")).unwrap();
        // `..` after a missing directory must not skip the check on `out`.
        symlink("nope/../out/x", root.join("sneaky")).unwrap();
        for (p, kind) in [
            ("out/passwd", ErrorKind::SymlinkEscape),
            ("out", ErrorKind::SymlinkEscape),
            ("dangling_out", ErrorKind::SymlinkEscape),
            ("sub/up/etc", ErrorKind::SymlinkEscape),
            ("loop", ErrorKind::IoError),
            ("sneaky", ErrorKind::IoError),
        ] {
            assert_eq!(confine(&root, p).unwrap_err().kind, kind, "{p}");
        }
        assert_eq!(
            confine(&root, "dangling_in").unwrap(),
            root.join("sub/new.txt")
        );
        assert_eq!(confine(&root, "inner/x").unwrap(), root.join("sub/x"));

        let ws = policy(1 << 20, 1 << 20, &root).workspace(root.clone());
        let e = ws
            .write_text_file(&json!({"path": "dangling_out", "content": "x"}))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::SymlinkEscape);
        assert!(!out.join("nope.txt").exists());
        // A dangling link inside is written through.
        ws.write_text_file(&json!({"path": "dangling_in", "content": "in"}))
            .await
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(root.join("sub/new.txt")).unwrap(),
            "in"
        );
    }

    #[tokio::test]
    async fn caps_binary_and_trust() {
        let (_d, root) = canonical_tempdir();
        let (_t, elsewhere) = canonical_tempdir();
        let ws = policy(8, 4, &root).workspace(root.clone());
        assert!(ws.trusted());
        let e = ws
            .write_text_file(&json!({"path": "w", "content": "12345"}))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::FileTooLarge);
        assert!(!root.join("w").exists());
        std::fs::write(root.join("big"), "123456789").unwrap();
        let e = ws
            .read_text_file(&json!({"path": "big"}))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::FileTooLarge);
        std::fs::write(root.join("bin"), [0u8, 159, 146, 150]).unwrap();
        let e = ws
            .read_text_file(&json!({"path": "bin"}))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::BinaryFile);
        let e = ws.read_text_file(&json!({"path": "missing"})).await;
        assert_eq!(e.unwrap_err().kind, ErrorKind::IoError);

        let untrusted = policy(8, 4, &elsewhere).workspace(root.clone());
        assert!(!untrusted.trusted());
        let e = untrusted
            .write_text_file(&json!({"path": "w", "content": "1"}))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::UntrustedWorkspace);
        assert!(e.hint.is_some());
        // Reading stays allowed.
        std::fs::write(root.join("r"), "ok").unwrap();
        let r = untrusted.read_text_file(&json!({"path": "r"})).await;
        assert_eq!(r.unwrap()["content"], "ok");

        let acp = e.into_acp();
        let data = acp.data.unwrap();
        assert_eq!(data["errorKind"], "untrusted_workspace");
        assert!(data["hint"].as_str().is_some());
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn modes_new_0600_existing_kept() {
        use std::os::unix::fs::PermissionsExt;
        let (_d, root) = canonical_tempdir();
        let ws = policy(1 << 20, 1 << 20, &root).workspace(root.clone());
        let mode = |p: &str| {
            std::fs::metadata(root.join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        ws.write_text_file(&json!({"path": "new", "content": "a"}))
            .await
            .unwrap();
        assert_eq!(mode("new"), 0o600);
        std::fs::write(root.join("old"), "a").unwrap();
        std::fs::set_permissions(root.join("old"), std::fs::Permissions::from_mode(0o644)).unwrap();
        ws.write_text_file(&json!({"path": "old", "content": "b"}))
            .await
            .unwrap();
        assert_eq!(mode("old"), 0o644);
        assert_eq!(std::fs::read_to_string(root.join("old")).unwrap(), "b");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_writes_to_one_path_are_serialized() {
        let (_d, root) = canonical_tempdir();
        let policy = policy(1 << 24, 1 << 24, &root);
        let ws = policy.workspace(root.clone());
        let contents: Vec<String> = (0..16)
            .map(|i| char::from(b'a' + i as u8).to_string().repeat(200_000))
            .collect();
        let writes = contents.iter().map(|c| {
            let ws = ws.clone();
            let c = c.clone();
            tokio::spawn(async move {
                ws.write_text_file(&json!({"path": "same.txt", "content": c}))
                    .await
            })
        });
        for r in futures::future::join_all(writes).await {
            r.unwrap().unwrap();
        }
        let final_text = std::fs::read_to_string(root.join("same.txt")).unwrap();
        assert!(contents.contains(&final_text), "a torn or mixed file");
        let names: Vec<_> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![OsString::from("same.txt")], "temp files left");
        assert_eq!(policy.locked_paths(), 0, "lock entries left");
    }
}
