//! Signing secrets that nobody else knows.
//!
//! Why: a secret written in the repository (a development default, a test value) is
//! known to everyone, and a service that runs with it accepts forged tokens and forged
//! tickets. So no signing secret lives in `config/`. When the configuration gives none,
//! the service makes its own on first start — 256 random bits for the access tokens and
//! one ticket key — and keeps them in `<data_dir>/secrets.toml` (mode 0600). Every later
//! start, and every command (`serve`, `demo`, `settle`…), reads that file, so tokens and
//! codes stay valid across restarts. The file is written once, atomically (a temporary
//! file linked into place, which fails when another process got there first), and never
//! overwritten. Production never uses it: it needs its own secrets from the environment
//! (see [`crate::config`]).
//!
//! A configured secret equal to a value published anywhere in this repository is
//! refused in every environment ([`is_public`]).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Toml};
use rand::RngCore;
use secrecy::SecretString;
use serde::Deserialize;

/// The file, under the data folder, that holds the generated secrets.
pub const FILE_NAME: &str = "secrets.toml";

/// Id of the ticket key the service generates.
pub const GENERATED_KEY_ID: &str = "g1";

/// Values that were published in this repository (the old development defaults, test
/// and example values): a secret equal to one of them is refused.
const PUBLIC_SECRETS: &[&str] = &[
    "development-token-secret-not-for-production-use",
    "development-ticket-key-not-for-production-use",
    "test-token-secret-test-token-secret-0123",
    "test-ticket-key-test-ticket-key-0123456789",
    "a-real-random-secret-of-enough-length-0123456789",
    "0123456789abcdef0123456789abcdef",
    "another-secret-another-secret-00",
    "some-other-secret-some-other-secret",
];

/// Whether `secret` is one of the values published in the repository.
pub fn is_public(secret: &str) -> bool {
    let secret = secret.trim();
    PUBLIC_SECRETS
        .iter()
        .any(|p| p.eq_ignore_ascii_case(secret))
}

/// The published values, for tests that check they are refused.
pub fn public_values() -> &'static [&'static str] {
    PUBLIC_SECRETS
}

/// `bytes` random bytes from the operating system, in lowercase hexadecimal.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

/// The secrets of the data folder.
pub struct Generated {
    pub token_secret: SecretString,
    /// `g1:<secret>`, in the syntax of `ticket_keys`.
    pub ticket_keys: SecretString,
    pub path: PathBuf,
    /// Made by this call (first start), rather than read.
    pub created: bool,
}

#[derive(Deserialize)]
struct Stored {
    token_secret: String,
    ticket_keys: String,
}

/// Reads the secrets of `data_dir`, making them first if the file does not exist.
/// The error names the file and what is wrong with it.
pub fn load_or_create(data_dir: &Path) -> Result<Generated, String> {
    let path = data_dir.join(FILE_NAME);
    let created = if path.exists() {
        false
    } else {
        create(data_dir, &path)?
    };
    let mode = fs::metadata(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        // Someone widened it: close it again before reading.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).map_err(|e| {
            format!(
                "{} can be read by other users and could not be closed: {e}",
                path.display()
            )
        })?;
    }
    let stored: Stored = Figment::from(Toml::file(&path)).extract().map_err(|e| {
        format!(
            "{} could not be read ({e}); it holds the generated signing secrets: restore it, \
             or remove it to make new ones (every token and ticket code signed so far stops working)",
            path.display()
        )
    })?;
    if stored.token_secret.len() < 32 || stored.ticket_keys.len() < 32 {
        return Err(format!(
            "{} holds secrets too short to be the ones this service made: restore it or remove it",
            path.display()
        ));
    }
    Ok(Generated {
        token_secret: stored.token_secret.into(),
        ticket_keys: stored.ticket_keys.into(),
        path,
        created,
    })
}

/// Writes a new secrets file: a temporary file (0600, synced), then linked to its name,
/// which fails if another process made it meanwhile (its file is kept). `true` when
/// this call's file is the one in place.
fn create(data_dir: &Path, path: &Path) -> Result<bool, String> {
    fs::create_dir_all(data_dir)
        .map_err(|e| format!("the data folder {} cannot be made: {e}", data_dir.display()))?;
    let content = format!(
        "# Signing secrets made by passnum on its first start. Keep this file private\n\
         # (mode 0600) and with the data: removing it invalidates every token and ticket\n\
         # code signed so far. A deployment gives its own through PASSNUM_TOKEN_SECRET and\n\
         # PASSNUM_TICKET_KEYS instead.\n\
         token_secret = \"{}\"\n\
         ticket_keys = \"{GENERATED_KEY_ID}:{}\"\n",
        random_hex(32),
        random_hex(32)
    );
    let temporary = data_dir.join(format!(".{FILE_NAME}.{}.tmp", random_hex(8)));
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)?;
        file.write_all(content.as_bytes())?;
        file.sync_all()
    })();
    let placed = written.and_then(|()| fs::hard_link(&temporary, path));
    let _ = fs::remove_file(&temporary);
    match placed {
        Ok(()) => {
            if let Ok(dir) = fs::File::open(data_dir) {
                let _ = dir.sync_all();
            }
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(format!(
            "the signing secrets could not be written to {}: {e}",
            path.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn scratch() -> PathBuf {
        std::env::temp_dir().join(format!("passnum-secrets-{}", random_hex(8)))
    }

    #[test]
    fn made_once_private_and_reused() {
        let dir = scratch();
        let first = load_or_create(&dir).unwrap();
        assert!(first.created);
        let mode = fs::metadata(&first.path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = load_or_create(&dir).unwrap();
        assert!(!again.created);
        assert_eq!(
            first.token_secret.expose_secret(),
            again.token_secret.expose_secret()
        );
        assert_eq!(
            first.ticket_keys.expose_secret(),
            again.ticket_keys.expose_secret()
        );
        assert!(
            again
                .ticket_keys
                .expose_secret()
                .starts_with(&format!("{GENERATED_KEY_ID}:"))
        );
        // No temporary file left behind.
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        // Widened by hand: closed again.
        fs::set_permissions(&first.path, fs::Permissions::from_mode(0o644)).unwrap();
        load_or_create(&dir).unwrap();
        let mode = fs::metadata(&first.path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn two_data_folders_get_different_secrets() {
        let (a, b) = (scratch(), scratch());
        let (sa, sb) = (load_or_create(&a).unwrap(), load_or_create(&b).unwrap());
        assert_ne!(
            sa.token_secret.expose_secret(),
            sb.token_secret.expose_secret()
        );
        let _ = (fs::remove_dir_all(&a), fs::remove_dir_all(&b));
    }

    #[test]
    fn concurrent_first_starts_agree_on_one_file() {
        let dir = scratch();
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let dir = dir.clone();
                std::thread::spawn(move || {
                    load_or_create(&dir)
                        .unwrap()
                        .token_secret
                        .expose_secret()
                        .to_string()
                })
            })
            .collect();
        let secrets: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert!(secrets.iter().all(|s| s == &secrets[0]), "{secrets:?}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_damaged_file_is_refused_not_replaced() {
        let dir = scratch();
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join(FILE_NAME);
        fs::write(&path, "token_secret = \"short\"\n").unwrap();
        let err = load_or_create(&dir).err().unwrap();
        assert!(err.contains(FILE_NAME), "{err}");
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "token_secret = \"short\"\n"
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn published_values_are_recognised() {
        assert!(is_public("development-token-secret-not-for-production-use"));
        assert!(is_public(" Development-Ticket-Key-Not-For-Production-Use "));
        assert!(!is_public(&random_hex(32)));
    }
}
