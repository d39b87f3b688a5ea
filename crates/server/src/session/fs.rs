//! The agent's `fs/read_text_file` and `fs/write_text_file`, confined to the
//! session's workspace.
//!
//! A path is accepted only if it stays inside the workspace both lexically
//! (no `..` escape) and physically (no symlink, existing or dangling, that
//! leads out). Writes go to a temporary file that is renamed into place, so
//! a reader never sees half a file. Refusals travel back to the agent as
//! JSON-RPC errors whose `data` carries `errorKind` and `hint`.

use std::path::{Component, Path, PathBuf};

use serde_json::{Value, json};
use switchyard_core::ErrorKind;

/// Largest file an agent may read or write through the daemon.
pub const MAX_FILE_BYTES: u64 = 10 << 20;

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
        FsError::new(ErrorKind::IoError, format!("{}: {e}", path.display()))
    }

    /// The JSON-RPC error sent to the agent.
    pub fn into_acp(self) -> agent_client_protocol::Error {
        let mut data = json!({ "errorKind": self.kind.as_str() });
        if let Some(h) = &self.hint {
            data["hint"] = h.as_str().into();
        }
        agent_client_protocol::Error::new(-32603, self.message).data(data)
    }
}

/// Removes `.` and resolves `..` without touching the filesystem.
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

/// Resolves an agent-supplied path inside `root` (canonical). Relative paths
/// are taken relative to the workspace.
pub fn confine(root: &Path, requested: &str) -> Result<PathBuf, FsError> {
    if requested.is_empty() {
        return Err(FsError::new(ErrorKind::InvalidRequest, "empty path"));
    }
    let joined = root.join(requested);
    let lexical = normalize(&joined)
        .filter(|p| p.starts_with(root))
        .ok_or_else(|| {
            FsError::new(
                ErrorKind::PathOutsideWorkspace,
                format!("{requested} is outside the workspace {}", root.display()),
            )
            .hint("agents may only touch files inside the session's workspace")
        })?;
    // Follow symlinks on the deepest part of the path that exists: a link
    // anywhere along it must still land inside the workspace.
    let mut existing = lexical.as_path();
    let mut rest = Vec::new();
    loop {
        match std::fs::symlink_metadata(existing) {
            Ok(meta) => {
                if meta.file_type().is_symlink() && std::fs::metadata(existing).is_err() {
                    // A dangling link: writing through it would create a
                    // file wherever it points.
                    return Err(escape(requested, root));
                }
                break;
            }
            Err(_) => {
                rest.push(existing.file_name().map(ToOwned::to_owned));
                existing = existing.parent().ok_or_else(|| escape(requested, root))?;
            }
        }
    }
    let real = std::fs::canonicalize(existing).map_err(|e| FsError::io(existing, e))?;
    if !real.starts_with(root) {
        return Err(escape(requested, root));
    }
    let mut full = real;
    for part in rest.into_iter().rev().flatten() {
        full.push(part);
    }
    Ok(full)
}

fn escape(requested: &str, root: &Path) -> FsError {
    FsError::new(
        ErrorKind::SymlinkEscape,
        format!(
            "{requested} leads outside the workspace {} through a symlink",
            root.display()
        ),
    )
    .hint("agents may only touch files inside the session's workspace")
}

fn path_param(params: &Value) -> Result<&str, FsError> {
    params
        .get("path")
        .and_then(Value::as_str)
        .ok_or_else(|| FsError::new(ErrorKind::InvalidRequest, "missing \"path\""))
}

/// `fs/read_text_file {path, line?, limit?}` → `{content}`.
pub async fn read_text_file(root: &Path, params: &Value) -> Result<Value, FsError> {
    let path = confine(root, path_param(params)?)?;
    let meta = tokio::fs::metadata(&path)
        .await
        .map_err(|e| FsError::io(&path, e))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(FsError::new(
            ErrorKind::FileTooLarge,
            format!(
                "{} is {} bytes (limit {MAX_FILE_BYTES})",
                path.display(),
                meta.len()
            ),
        ));
    }
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|e| FsError::io(&path, e))?;
    let text = String::from_utf8(bytes)
        .ok()
        .filter(|t| !t.contains('\0'))
        .ok_or_else(|| {
            FsError::new(
                ErrorKind::BinaryFile,
                format!("{} is not a text file", path.display()),
            )
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

/// `fs/write_text_file {path, content}` → `{}`; atomic.
pub async fn write_text_file(root: &Path, params: &Value) -> Result<Value, FsError> {
    let path = confine(root, path_param(params)?)?;
    let content = params
        .get("content")
        .and_then(Value::as_str)
        .ok_or_else(|| FsError::new(ErrorKind::InvalidRequest, "missing \"content\""))?;
    if content.len() as u64 > MAX_FILE_BYTES {
        return Err(FsError::new(
            ErrorKind::FileTooLarge,
            format!(
                "{} bytes is over the {MAX_FILE_BYTES}-byte write limit",
                content.len()
            ),
        ));
    }
    let dir = path
        .parent()
        .ok_or_else(|| FsError::new(ErrorKind::InvalidRequest, "path has no parent"))?
        .to_path_buf();
    let content = content.to_string();
    tokio::task::spawn_blocking(move || write_atomic(&dir, &path, content.as_bytes()))
        .await
        .map_err(|e| FsError::new(ErrorKind::Internal, format!("write task failed: {e}")))??;
    Ok(json!({}))
}

fn write_atomic(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), FsError> {
    use std::io::Write;
    std::fs::create_dir_all(dir).map_err(|e| FsError::io(dir, e))?;
    let existing_mode = std::fs::metadata(path).ok().map(|m| m.permissions());
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.switchyard-{}.tmp", std::process::id()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
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

    #[tokio::test]
    async fn confinement_and_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let p = root.join("a/b.txt");
        write_text_file(&root, &json!({"path": p, "content": "hi\nthere\n"}))
            .await
            .unwrap();
        let r = read_text_file(&root, &json!({"path": p, "line": 2}))
            .await
            .unwrap();
        assert_eq!(r["content"], "there\n");
        let e = confine(&root, "../x").unwrap_err();
        assert_eq!(e.kind, ErrorKind::PathOutsideWorkspace);
        let e = confine(&root, "/etc/passwd").unwrap_err();
        assert_eq!(e.kind, ErrorKind::PathOutsideWorkspace);
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("/etc", root.join("out")).unwrap();
            assert_eq!(
                confine(&root, "out/passwd").unwrap_err().kind,
                ErrorKind::SymlinkEscape
            );
            std::os::unix::fs::symlink("/nonexistent/zz", root.join("dangling")).unwrap();
            assert_eq!(
                confine(&root, "dangling").unwrap_err().kind,
                ErrorKind::SymlinkEscape
            );
        }
        std::fs::write(root.join("bin"), [0u8, 159, 146, 150]).unwrap();
        let e = read_text_file(&root, &json!({"path": root.join("bin")}))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::BinaryFile);
    }
}
