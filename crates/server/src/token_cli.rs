//! `switchyard token create|list|revoke` (part of the binary, not the
//! library): a thin shell over [`switchyard_server::tokens::TokenStore`].

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::json;
use switchyard_server::config;
use switchyard_server::tokens::{TokenRecord, TokenStore};

#[derive(Subcommand)]
pub enum TokenCmd {
    /// Issue a token. Prints it once, alone on stdout; only its hash is kept.
    Create {
        /// The token may only watch (attach as observer).
        #[arg(long)]
        read_only: bool,
        /// A label shown by `token list`.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        dir: DataDir,
    },
    /// List tokens (id, name, role, created) — never the tokens themselves.
    List {
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        dir: DataDir,
    },
    /// Revoke a token by id; a running daemon refuses it from the next
    /// request on.
    Revoke {
        /// The token's id (`t_…`, from `token list`).
        id: String,
        #[command(flatten)]
        dir: DataDir,
    },
}

#[derive(Args)]
pub struct DataDir {
    /// Data directory. Default: $XDG_DATA_HOME/switchyard.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

impl DataDir {
    fn store(&self) -> TokenStore {
        let dir = self
            .data_dir
            .clone()
            .unwrap_or_else(config::default_data_dir);
        TokenStore::open(&dir)
    }
}

/// Runs a token command; a failure is one line on stderr and exit code 1.
pub fn run(cmd: TokenCmd) -> anyhow::Result<()> {
    if let Err(e) = run_inner(cmd) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
    Ok(())
}

fn run_inner(cmd: TokenCmd) -> anyhow::Result<()> {
    match cmd {
        TokenCmd::Create {
            read_only,
            name,
            dir,
        } => {
            if name.as_ref().is_some_and(|n| n.len() > 200) {
                anyhow::bail!("--name is longer than 200 bytes");
            }
            let store = dir.store();
            let (record, token) = store.create(name, read_only)?;
            // stdout carries the token alone, so `$(switchyard token create)`
            // captures exactly it.
            println!("{token}");
            eprintln!(
                "created {} token {} in {} (shown once; store it now)",
                record.role(),
                record.id,
                store.path().display()
            );
        }
        TokenCmd::List { json, dir } => {
            let tokens = dir.store().list()?;
            if json {
                let rows: Vec<_> = tokens
                    .iter()
                    .map(|t| {
                        json!({
                            "id": t.id,
                            "name": t.name,
                            "role": t.role(),
                            "readOnly": t.read_only,
                            "createdAt": t.created_at,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                print_table(&tokens);
            }
        }
        TokenCmd::Revoke { id, dir } => {
            let record = dir.store().revoke(&id)?;
            eprintln!("revoked {} token {}", record.role(), record.id);
        }
    }
    Ok(())
}

fn print_table(tokens: &[TokenRecord]) {
    if tokens.is_empty() {
        eprintln!("no tokens (create one with `switchyard token create`)");
        return;
    }
    let rows: Vec<[String; 4]> = tokens
        .iter()
        .map(|t| {
            [
                t.id.clone(),
                t.name.clone().unwrap_or_else(|| "-".into()),
                t.role().into(),
                rfc3339(t.created_at),
            ]
        })
        .collect();
    let header = ["ID", "NAME", "ROLE", "CREATED"];
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: [&str; 4]| {
        let mut out = String::new();
        for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
            if i == 3 {
                out.push_str(c);
            } else {
                out.push_str(&format!("{c:<w$}  "));
            }
        }
        println!("{out}");
    };
    line(header);
    for r in &rows {
        line([&r[0], &r[1], &r[2], &r[3]]);
    }
}

/// `2026-02-20T12:34:56Z` from ms since the epoch (UTC; civil-from-days).
fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_771_590_896_000), "2026-02-20T12:34:56Z");
    }
}
