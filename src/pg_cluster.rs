//! The private PostgreSQL cluster started when no `DATABASE_URL` is given.
//!
//! Layout under the cluster folder (e.g. `.data/postgres/`):
//! `data/` (the cluster, owned by the server's user), `password` (the superuser's
//! password, generated once), `server.log`. The cluster is started on a free loopback
//! port with no Unix socket, reused while it runs, and left running (with its data)
//! when the service stops. PostgreSQL refuses to run as root: as root every server
//! command runs as the `postgres` user through `runuser`, and the folder is handed to
//! that user. When that user cannot reach the project's folder (a parent folder closed
//! to others), the cluster lives in `/var/tmp/passnum-<hash>/` instead, and the log
//! says so.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, anyhow, bail};
use rand::Rng;
use rand::distributions::Alphanumeric;
use sha2::{Digest, Sha256};

const SUPERUSER: &str = "passnum";
const SERVER_USER: &str = "postgres";

/// How the cluster is tuned: durable for the service's data, fast for throw-away tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    Durable,
    Ephemeral,
}

/// A running private cluster.
#[derive(Debug, Clone)]
pub struct LocalCluster {
    pub root: PathBuf,
    pub port: u16,
    password: String,
}

impl LocalCluster {
    /// URL of a database of the cluster, as its superuser.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://{SUPERUSER}:{}@127.0.0.1:{}/{database}",
            self.password, self.port
        )
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }
}

/// Starts the cluster kept in `root` (creating it on first use), or finds it running.
/// Safe to call from several processes at once: they serialise on a lock file.
pub fn ensure_running(root: &Path, durability: Durability) -> Result<LocalCluster> {
    let root = reachable_root(root)?;
    fs::create_dir_all(&root).with_context(|| format!("could not create {}", root.display()))?;
    let lock = File::create(root.join("cluster.lock"))
        .with_context(|| format!("could not create a lock file in {}", root.display()))?;
    lock.lock().context("could not lock the cluster folder")?;
    let result = start_locked(&root, durability);
    drop(lock);
    result
}

/// Stops the cluster kept in `root` if it runs; returns whether it was running.
pub fn stop(root: &Path) -> Result<bool> {
    let root = reachable_root(root)?;
    let bin = bin_dir()?;
    let data = root.join("data");
    if !data.join("PG_VERSION").exists() || running_port(&bin, &data)?.is_none() {
        return Ok(false);
    }
    let status = server_command(&bin.join("pg_ctl"))
        .args(["stop", "-m", "fast", "-w", "-D"])
        .arg(&data)
        .stdout(std::process::Stdio::null())
        .status()
        .context("could not run pg_ctl stop")?;
    if !status.success() {
        bail!("pg_ctl stop failed for {}", data.display());
    }
    Ok(true)
}

/// Deletes a stopped cluster's folder.
pub fn remove(root: &Path) -> Result<()> {
    let root = reachable_root(root)?;
    if root.exists() {
        fs::remove_dir_all(&root)
            .with_context(|| format!("could not remove {}", root.display()))?;
    }
    Ok(())
}

fn start_locked(root: &Path, durability: Durability) -> Result<LocalCluster> {
    let bin = bin_dir()?;
    let data = root.join("data");
    let password_file = root.join("password");
    if running_as_root() {
        chown_to_server_user(root)?;
    }
    if !data.join("PG_VERSION").exists() {
        initdb(&bin, root, &data, &password_file)?;
    }
    let password = fs::read_to_string(&password_file)
        .with_context(|| format!("could not read {}", password_file.display()))?
        .trim()
        .to_string();
    if let Some(port) = running_port(&bin, &data)? {
        return Ok(LocalCluster {
            root: root.to_path_buf(),
            port,
            password,
        });
    }
    let port = free_port()?;
    let mut options = format!(
        "-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories= -c max_connections=200"
    );
    if durability == Durability::Ephemeral {
        options.push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
    }
    let log = root.join("server.log");
    let status = server_command(&bin.join("pg_ctl"))
        .args(["start", "-w", "-t", "60", "-D"])
        .arg(&data)
        .arg("-l")
        .arg(&log)
        .args(["-o", &options])
        .stdout(std::process::Stdio::null())
        .status()
        .context("could not run pg_ctl start")?;
    if !status.success() {
        let tail = fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = tail.lines().rev().take(15).collect();
        bail!(
            "PostgreSQL did not start (cluster {}); last lines of its log:\n{}",
            data.display(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    tracing::info!(cluster = %data.display(), port, "private PostgreSQL started");
    Ok(LocalCluster {
        root: root.to_path_buf(),
        port,
        password,
    })
}

fn initdb(bin: &Path, root: &Path, data: &Path, password_file: &Path) -> Result<()> {
    let password: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect();
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(password_file)
        .with_context(|| format!("could not write {}", password_file.display()))?;
    file.write_all(password.as_bytes())?;
    fs::set_permissions(password_file, fs::Permissions::from_mode(0o600))?;
    if running_as_root() {
        chown_to_server_user(password_file)?;
    }
    tracing::info!(cluster = %data.display(), "creating the private PostgreSQL cluster");
    let output = server_command(&bin.join("initdb"))
        .arg("-D")
        .arg(data)
        .args(["-U", SUPERUSER, "-E", "UTF8", "--locale=C.UTF-8"])
        .args(["--auth=scram-sha-256"])
        .arg(format!("--pwfile={}", password_file.display()))
        .current_dir(root)
        .output()
        .context("could not run initdb")?;
    if !output.status.success() {
        bail!(
            "initdb failed for {}: {}",
            data.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// The port of the cluster if its server is running.
fn running_port(bin: &Path, data: &Path) -> Result<Option<u16>> {
    let status = server_command(&bin.join("pg_ctl"))
        .args(["status", "-D"])
        .arg(data)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .context("could not run pg_ctl status")?;
    if !status.success() {
        return Ok(None);
    }
    // postmaster.pid: pid, data dir, start time, port, ...
    let pid_file = fs::read_to_string(data.join("postmaster.pid")).unwrap_or_default();
    let port = pid_file
        .lines()
        .nth(3)
        .and_then(|l| l.trim().parse::<u16>().ok())
        .ok_or_else(|| {
            anyhow!(
                "cannot read the port of the running cluster {}",
                data.display()
            )
        })?;
    Ok(Some(port))
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("no free loopback port")?;
    Ok(listener.local_addr()?.port())
}

/// The installed server binaries: `PASSNUM_PG_BIN`, else the newest
/// `/usr/lib/postgresql/<version>/bin`.
pub fn bin_dir() -> Result<PathBuf> {
    if let Ok(dir) = std::env::var("PASSNUM_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .context("PostgreSQL server binaries not found under /usr/lib/postgresql (set PASSNUM_PG_BIN or DATABASE_URL)")?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("pg_ctl").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .ok_or_else(|| anyhow!("no PostgreSQL server binaries under /usr/lib/postgresql"))
}

pub fn running_as_root() -> bool {
    // SAFETY-free check: the effective uid of this process, read from /proc.
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|uid| uid == "0"))
        })
        .unwrap_or(false)
}

/// A command for a server binary, run as `postgres` when we are root.
pub fn server_command(program: &Path) -> Command {
    let mut cmd = if running_as_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", SERVER_USER, "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    };
    // The server's user may not be allowed into our working folder.
    cmd.current_dir("/");
    cmd
}

fn chown_to_server_user(path: &Path) -> Result<()> {
    let status = Command::new("chown")
        .arg(format!("{SERVER_USER}:"))
        .arg(path)
        .status()
        .context("could not run chown")?;
    if !status.success() {
        bail!(
            "could not give {} to the {SERVER_USER} user",
            path.display()
        );
    }
    Ok(())
}

/// The folder to use: `root` itself, unless we are root and the `postgres` user cannot
/// reach it, in which case a folder under `/var/tmp` named after `root`'s path.
fn reachable_root(root: &Path) -> Result<PathBuf> {
    let absolute =
        std::path::absolute(root).with_context(|| format!("cannot resolve {}", root.display()))?;
    if !running_as_root() {
        return Ok(absolute);
    }
    let parent = absolute.parent().unwrap_or(Path::new("/"));
    fs::create_dir_all(parent).with_context(|| format!("could not create {}", parent.display()))?;
    let reachable = Command::new("runuser")
        .args(["-u", SERVER_USER, "--", "test", "-x"])
        .arg(parent)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if reachable {
        return Ok(absolute);
    }
    let digest = Sha256::digest(absolute.to_string_lossy().as_bytes());
    let fallback = PathBuf::from(format!("/var/tmp/passnum-{}", &hex::encode(digest)[..12]));
    tracing::info!(
        wanted = %absolute.display(),
        used = %fallback.display(),
        "the postgres user cannot reach the project's data folder; the private cluster lives elsewhere"
    );
    Ok(fallback)
}
