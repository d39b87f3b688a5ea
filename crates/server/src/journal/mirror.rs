//! The small settings files (workspace defaults, extra tokens) and the
//! journal.
//!
//! The files stay the source of truth: `switchyard token` edits
//! `tokens.json` while the daemon runs (the daemon reloads it), and both
//! are meant to be readable and editable by hand. The journal keeps a copy
//! of each, taken at every start, so losing a file (a data dir restored
//! from an old backup, a mistaken `rm`) does not lose it: when a file is
//! missing at start and the journal holds a copy, the file is written back
//! from it (0600) and the log says so.

use std::path::Path;

use super::{JournalHandle, Write};

/// The files mirrored, by name inside the data dir.
pub const MIRRORED: &[&str] = &[crate::defaults::FILE_NAME, crate::tokens::FILE_NAME];

fn key(name: &str) -> String {
    format!("file:{name}")
}

/// Copies each file into the journal, or restores a missing one from it.
pub fn sync_files(data_dir: &Path, journal: &JournalHandle) {
    for name in MIRRORED {
        let path = data_dir.join(name);
        match std::fs::read_to_string(&path) {
            Ok(text) => journal.write(Write::Setting {
                key: key(name),
                value: text,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                match journal.journal().setting(&key(name)) {
                    Ok(Some(copy)) => {
                        match crate::defaults::write_atomically(&path, copy.as_bytes()) {
                            Ok(()) => tracing::warn!(
                                path = %path.display(),
                                "file was missing: restored from the journal's copy"
                            ),
                            Err(e) => tracing::warn!(
                                path = %path.display(),
                                "file missing and could not be restored from the journal: {e}"
                            ),
                        }
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!("reading the journal's copy of {name}: {e}"),
                }
            }
            Err(e) => tracing::warn!(path = %path.display(), "not mirrored: {e}"),
        }
    }
    journal.flush();
}
