//! Per-workspace defaults: what `persist: true` on an approval-mode change
//! stores, and what new sessions in that workspace start with.
//!
//! One small JSON file in the data dir (`workspace-defaults.json`, 0600),
//! rewritten atomically. Keys are canonical workspace paths.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// The file name inside the data dir.
pub const FILE_NAME: &str = "workspace-defaults.json";

/// Defaults for one workspace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceDefault {
    /// Approval mode new sessions start in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_mode: Option<String>,
}

/// Every workspace's defaults, loaded once and written through.
#[derive(Debug)]
pub struct WorkspaceDefaults {
    path: PathBuf,
    map: Mutex<BTreeMap<String, WorkspaceDefault>>,
}

impl WorkspaceDefaults {
    /// Loads `<data_dir>/workspace-defaults.json`. A missing file is an empty
    /// map; an unreadable or malformed one is reported and left untouched
    /// (never overwritten until a change is persisted).
    pub fn load(data_dir: &Path) -> WorkspaceDefaults {
        let path = data_dir.join(FILE_NAME);
        let map = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(path = %path.display(), "ignoring malformed workspace defaults: {e}");
                BTreeMap::new()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => {
                tracing::warn!(path = %path.display(), "cannot read workspace defaults: {e}");
                BTreeMap::new()
            }
        };
        WorkspaceDefaults {
            path,
            map: Mutex::new(map),
        }
    }

    /// The approval mode persisted for `workspace`, if any.
    pub fn approval_mode(&self, workspace: &Path) -> Option<String> {
        self.map
            .lock()
            .expect("defaults lock")
            .get(&key(workspace))
            .and_then(|d| d.approval_mode.clone())
    }

    /// Persists `mode` as `workspace`'s default. The in-memory map changes
    /// only once the file is safely replaced.
    pub fn set_approval_mode(&self, workspace: &Path, mode: &str) -> std::io::Result<()> {
        let mut map = self.map.lock().expect("defaults lock");
        let mut next = map.clone();
        next.entry(key(workspace)).or_default().approval_mode = Some(mode.to_string());
        write_atomically(&self.path, &serde_json::to_vec_pretty(&next)?)?;
        *map = next;
        Ok(())
    }
}

fn key(workspace: &Path) -> String {
    workspace.to_string_lossy().into_owned()
}

/// Writes `bytes` to a temp file next to `path` (0600), syncs it, and
/// renames it over `path`.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let result = (|| {
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persisted_modes_survive_a_reload_and_the_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Path::new("/some/workspace");
        let d = WorkspaceDefaults::load(dir.path());
        assert_eq!(d.approval_mode(ws), None);
        d.set_approval_mode(ws, "plan").unwrap();
        d.set_approval_mode(Path::new("/other"), "yolo").unwrap();
        let again = WorkspaceDefaults::load(dir.path());
        assert_eq!(again.approval_mode(ws).as_deref(), Some("plan"));
        assert_eq!(
            again.approval_mode(Path::new("/other")).as_deref(),
            Some("yolo")
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(FILE_NAME))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_malformed_file_is_ignored_not_clobbered_on_load() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), b"{not json").unwrap();
        let d = WorkspaceDefaults::load(dir.path());
        assert_eq!(d.approval_mode(Path::new("/x")), None);
        assert_eq!(
            std::fs::read(dir.path().join(FILE_NAME)).unwrap(),
            b"{not json"
        );
    }
}
