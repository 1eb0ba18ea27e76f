//! A throwaway PostgreSQL server for the `sql_gen` example and its test: `initdb` into a
//! temporary folder, `pg_ctl start` on a free loopback port, stopped and deleted when
//! dropped.
//!
//! The server binaries come from Debian's `postgresql` package (`/usr/lib/postgresql/<version>/bin`)
//! or the `PATH`. PostgreSQL refuses to run as root: as root, the commands run as the
//! `postgres` user (`runuser -u postgres --`) in a folder that user owns.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Why the server could not be had.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// No `initdb` was found.
    #[error(
        "PostgreSQL is not installed (no initdb in /usr/lib/postgresql/*/bin or on the PATH); \
         install it with crates/verity-examples/scripts/install-postgres.sh or `apt-get install -y postgresql`"
    )]
    NotInstalled,
    /// A command could not run or failed.
    #[error("{command} failed: {output}")]
    Command {
        /// The command.
        command: String,
        /// Its output (stderr, else stdout).
        output: String,
    },
    /// File system trouble.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A running throwaway server.
#[derive(Debug)]
pub struct TempPostgres {
    /// The port it listens on (loopback only).
    pub port: u16,
    bin: PathBuf,
    root: PathBuf,
    as_postgres_user: bool,
    stopped: bool,
}

/// The folder holding `initdb`, `pg_ctl` and `postgres`: the newest
/// `/usr/lib/postgresql/<version>/bin`, else the folder of `initdb` on the `PATH`.
pub fn find_bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .find(|p| p.join("initdb").is_file() && p.join("pg_ctl").is_file())
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl TempPostgres {
    /// Start a server: a new cluster with `trust` authentication for the `postgres`
    /// user, listening on a free port of 127.0.0.1, fsync off.
    pub fn start() -> Result<Self, PgError> {
        let bin = find_bin_dir().ok_or(PgError::NotInstalled)?;
        let as_postgres_user = is_root();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        // as root, a folder the postgres user can reach (TMPDIR may be root's own)
        let temp = if as_postgres_user {
            PathBuf::from("/tmp")
        } else {
            std::env::temp_dir()
        };
        let root = temp.join(format!("verity-pg-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&root)?;
        let mut server = TempPostgres {
            port: 0,
            bin,
            root,
            as_postgres_user,
            stopped: true,
        };
        if as_postgres_user {
            run(Command::new("chown")
                .arg("postgres:postgres")
                .arg(&server.root))?;
        }
        let data = server.data_dir();
        server.run_tool(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "-A".as_ref(),
                "trust".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--locale=C".as_ref(),
                "--no-sync".as_ref(),
            ],
        )?;
        server.port = free_port()?;
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off",
            server.port,
            server.root.display()
        );
        let log = server.root.join("server.log");
        server.stopped = false;
        server.run_tool(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-o".as_ref(),
                options.as_ref(),
                "-l".as_ref(),
                log.as_os_str(),
                "-w".as_ref(),
                "-t".as_ref(),
                "60".as_ref(),
                "start".as_ref(),
            ],
        )?;
        Ok(server)
    }

    /// A `tokio-postgres` connection string for the `postgres` database.
    pub fn connection_string(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres",
            self.port
        )
    }

    /// Stop the server (fast shutdown) and delete its folder.
    pub fn stop(&mut self) -> Result<(), PgError> {
        if !self.stopped {
            self.stopped = true;
            let data = self.data_dir();
            self.run_tool(
                "pg_ctl",
                &[
                    "-D".as_ref(),
                    data.as_os_str(),
                    "-m".as_ref(),
                    "fast".as_ref(),
                    "-w".as_ref(),
                    "stop".as_ref(),
                ],
            )?;
        }
        if self.root.exists() {
            std::fs::remove_dir_all(&self.root)?;
        }
        Ok(())
    }

    fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    fn run_tool(&self, tool: &str, args: &[&std::ffi::OsStr]) -> Result<(), PgError> {
        let program = self.bin.join(tool);
        let mut command = if self.as_postgres_user {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        // a folder the postgres user may enter (the caller's may not be)
        command.args(args).current_dir(Path::new("/"));
        run(&mut command)
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

fn run(command: &mut Command) -> Result<(), PgError> {
    let described = format!("{command:?}");
    let describe = || described.clone();
    let out = command.output().map_err(|e| PgError::Command {
        command: describe(),
        output: e.to_string(),
    })?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    Err(PgError::Command {
        command: describe(),
        output: if stderr.is_empty() {
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        } else {
            stderr
        },
    })
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
