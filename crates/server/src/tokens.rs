//! Extra API tokens (`switchyard token create/list/revoke`), beside the
//! daemon's primary token.
//!
//! Only a SHA-256 hash of each token is stored, in `<data_dir>/tokens.json`
//! (mode 0600, replaced atomically: temp file + rename, under an advisory
//! lock so two `token` commands never lose each other's change). The token
//! text is shown once, by `token create`, and never again.
//!
//! A running daemon sees creations and revocations without a restart: on
//! each authentication it compares the file's identity (inode, length,
//! mtime) with what it last loaded — one `stat` — and reloads only when it
//! changed. Every write is a rename, so a change always brings a new inode.
//!
//! [`TokenStore`] is the whole interface; a later issue moves the records
//! into SQLite without touching its callers.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use crate::auth::Grant;

/// File name inside the data dir.
pub const FILE_NAME: &str = "tokens.json";
const LOCK_NAME: &str = "tokens.lock";

/// One stored token (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRecord {
    /// `t_…`, for `token revoke`.
    pub id: String,
    /// Free-form label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Observer-only access.
    pub read_only: bool,
    /// Creation time, ms since the Unix epoch.
    pub created_at: u64,
    /// Lower-case hex SHA-256 of the token text.
    pub sha256: String,
}

impl TokenRecord {
    /// `read-only` or `full`.
    pub fn role(&self) -> &'static str {
        if self.read_only { "read-only" } else { "full" }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct TokenFile {
    version: u32,
    tokens: Vec<TokenRecord>,
}

/// What identifies one version of the file on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    ino: u64,
    len: u64,
    mtime_ns: i128,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let ino = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let ino = 0;
    let mtime_ns = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i128);
    Some(Stamp {
        ino,
        len: meta.len(),
        mtime_ns,
    })
}

/// A loaded token, ready for comparison.
struct Loaded {
    hash: [u8; 32],
    read_only: bool,
}

struct Cache {
    /// `None`: no file (or not read yet).
    stamp: Option<Stamp>,
    loaded: bool,
    tokens: Vec<Loaded>,
}

/// Errors from the token store.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// No token with that id.
    #[error("no token with id {0:?} (see `switchyard token list`)")]
    UnknownId(String),
    /// The file exists but is not a token file.
    #[error("{path} is not a valid token file: {source}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> TokenError + '_ {
    move |source| TokenError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The tokens in one data dir.
pub struct TokenStore {
    dir: PathBuf,
    cache: Mutex<Cache>,
}

impl std::fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenStore")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// Creates `dir` (and missing parents) with mode 0700.
pub fn ensure_data_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

fn sha256(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(s: &str) -> Option<[u8; 32]> {
    let s = s.as_bytes();
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in s.chunks(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

/// Holds an exclusive advisory lock on `<dir>/tokens.lock` while alive.
struct FileLock {
    _file: std::fs::File,
}

impl FileLock {
    fn acquire(dir: &Path) -> Result<FileLock, TokenError> {
        let path = dir.join(LOCK_NAME);
        let mut opts = std::fs::OpenOptions::new();
        opts.create(true).truncate(false).write(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let f = opts.open(&path).map_err(io_err(&path))?;
        #[cfg(unix)]
        {
            use std::os::unix::io::AsRawFd;
            // SAFETY: flock on a descriptor we own; released on close.
            if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
                return Err(io_err(&path)(std::io::Error::last_os_error()));
            }
        }
        Ok(FileLock { _file: f })
    }
}

impl TokenStore {
    /// The store for `data_dir` (nothing is read or created yet).
    pub fn open(data_dir: &Path) -> TokenStore {
        TokenStore {
            dir: data_dir.to_path_buf(),
            cache: Mutex::new(Cache {
                stamp: None,
                loaded: false,
                tokens: Vec::new(),
            }),
        }
    }

    /// `<data_dir>/tokens.json`.
    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    fn read_file(&self) -> Result<TokenFile, TokenError> {
        let path = self.path();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|source| TokenError::Corrupt { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TokenFile {
                version: 1,
                tokens: Vec::new(),
            }),
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    fn write_file(&self, file: &TokenFile) -> Result<(), TokenError> {
        let path = self.path();
        let mut suffix = [0u8; 6];
        rand::rng().fill_bytes(&mut suffix);
        let tmp = self
            .dir
            .join(format!(".{FILE_NAME}.{}.tmp", to_hex(&suffix)));
        let json = serde_json::to_vec_pretty(file).expect("token file serializes");
        let result = (|| {
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(&tmp)?;
            f.write_all(&json)?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        })();
        result.map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io_err(&path)(e)
        })
    }

    /// Read-modify-write under the lock.
    fn update<T>(
        &self,
        change: impl FnOnce(&mut Vec<TokenRecord>) -> Result<T, TokenError>,
    ) -> Result<T, TokenError> {
        ensure_data_dir(&self.dir).map_err(io_err(&self.dir))?;
        let _lock = FileLock::acquire(&self.dir)?;
        let mut file = self.read_file()?;
        let out = change(&mut file.tokens)?;
        file.version = 1;
        self.write_file(&file)?;
        Ok(out)
    }

    /// Issues a new token: returns its record and the token text, which is
    /// stored nowhere.
    pub fn create(
        &self,
        name: Option<String>,
        read_only: bool,
    ) -> Result<(TokenRecord, String), TokenError> {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let token = to_hex(&bytes);
        let record = TokenRecord {
            id: crate::session::new_id("t"),
            name,
            read_only,
            created_at: crate::session::now_ms(),
            sha256: to_hex(&sha256(&token)),
        };
        let r = record.clone();
        self.update(move |tokens| {
            tokens.push(r);
            Ok(())
        })?;
        Ok((record, token))
    }

    /// Every stored token, oldest first.
    pub fn list(&self) -> Result<Vec<TokenRecord>, TokenError> {
        let mut tokens = self.read_file()?.tokens;
        tokens.sort_by_key(|t| t.created_at);
        Ok(tokens)
    }

    /// Removes a token; unknown ids are an error.
    pub fn revoke(&self, id: &str) -> Result<TokenRecord, TokenError> {
        self.update(|tokens| {
            let i = tokens
                .iter()
                .position(|t| t.id == id)
                .ok_or_else(|| TokenError::UnknownId(id.to_string()))?;
            Ok(tokens.remove(i))
        })
    }

    /// What `presented` grants, if it is one of the stored tokens. Reloads
    /// the file first when it changed since the last call. Every stored
    /// hash is compared, in constant time, whatever matches.
    pub fn check(&self, presented: &str) -> Option<Grant> {
        let hash = sha256(presented);
        let mut cache = self.cache.lock().expect("token cache lock");
        let now = stamp(&self.path());
        if !cache.loaded || now != cache.stamp {
            cache.tokens = match self.read_file() {
                Ok(file) => file
                    .tokens
                    .iter()
                    .filter_map(|t| {
                        Some(Loaded {
                            hash: from_hex(&t.sha256)?,
                            read_only: t.read_only,
                        })
                    })
                    .collect(),
                Err(e) => {
                    // Fail closed: no extra token works until the file is
                    // fixed (the primary token still does).
                    tracing::warn!("ignoring extra tokens: {e}");
                    Vec::new()
                }
            };
            cache.stamp = now;
            cache.loaded = true;
        }
        let mut found = Choice::from(0);
        let mut read_only = Choice::from(0);
        for t in &cache.tokens {
            let hit = t.hash.ct_eq(&hash);
            found |= hit;
            read_only |= hit & Choice::from(t.read_only as u8);
        }
        bool::from(found).then(|| Grant {
            read_only: bool::from(read_only),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_only_hashes_and_grants_roles() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let store = TokenStore::open(&data);
        let (ro, ro_token) = store.create(Some("ci".into()), true).unwrap();
        let (full, full_token) = store.create(None, false).unwrap();
        assert!(ro.id.starts_with("t_"));
        assert_ne!(ro_token, full_token);

        let text = std::fs::read_to_string(store.path()).unwrap();
        assert!(!text.contains(&ro_token) && !text.contains(&full_token));
        assert!(text.contains(&ro.sha256));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&store.path()), 0o600);
            assert_eq!(mode(&data), 0o700);
        }

        assert_eq!(store.check(&ro_token), Some(Grant { read_only: true }));
        assert_eq!(store.check(&full_token), Some(Grant { read_only: false }));
        assert_eq!(store.check(&ro.sha256), None, "the hash is not a token");
        assert_eq!(store.check(""), None);

        let listed = store.list().unwrap();
        assert_eq!(listed, vec![ro.clone(), full.clone()]);
        assert_eq!(listed[0].role(), "read-only");
        assert_eq!(listed[1].role(), "full");
    }

    #[test]
    fn revocation_and_creation_reach_a_running_reader() {
        let dir = tempfile::tempdir().unwrap();
        // Two handles on one dir: the daemon's and the CLI's.
        let daemon = TokenStore::open(dir.path());
        let cli = TokenStore::open(dir.path());
        assert_eq!(daemon.check("nothing"), None);

        let (rec, token) = cli.create(None, true).unwrap();
        assert_eq!(daemon.check(&token), Some(Grant { read_only: true }));
        let (_, other) = cli.create(Some("x".into()), false).unwrap();
        assert_eq!(daemon.check(&other), Some(Grant { read_only: false }));

        assert_eq!(cli.revoke(&rec.id).unwrap().id, rec.id);
        assert_eq!(daemon.check(&token), None);
        assert_eq!(daemon.check(&other), Some(Grant { read_only: false }));

        let e = cli.revoke(&rec.id).unwrap_err();
        assert!(matches!(e, TokenError::UnknownId(_)), "{e}");
        // No temp files left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
    }

    #[test]
    fn a_corrupt_file_grants_nothing_and_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::open(dir.path());
        let (_, token) = store.create(None, false).unwrap();
        std::fs::write(store.path(), "not json").unwrap();
        assert_eq!(store.check(&token), None);
        assert!(matches!(store.list(), Err(TokenError::Corrupt { .. })));
        assert!(matches!(
            store.create(None, false),
            Err(TokenError::Corrupt { .. })
        ));
    }
}
