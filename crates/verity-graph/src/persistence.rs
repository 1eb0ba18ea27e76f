//! Persistence backends: in memory, JSON files, SQLite.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use crate::error::PersistenceError;
use crate::snapshot::Snapshot;

/// Where a run's snapshots are stored. The engine saves after every node, so a run can be
/// resumed from its last snapshot ([`Graph::resume`](crate::Graph::resume)).
///
/// Methods are synchronous (snapshots are small; the SQLite and file backends block
/// briefly).
pub trait Persistence: Send + Sync {
    /// Stores `snapshots` of `run_id`, replacing those with the same `seq`, atomically
    /// (all or none).
    ///
    /// # Errors
    /// When the backend fails.
    fn save(&self, run_id: &str, snapshots: &[Snapshot]) -> Result<(), PersistenceError>;

    /// All snapshots of `run_id`, by `seq`; empty when there are none.
    ///
    /// # Errors
    /// When the backend fails or a snapshot is corrupted ([`PersistenceError::Corrupt`]).
    fn load(&self, run_id: &str) -> Result<Vec<Snapshot>, PersistenceError>;

    /// Where the snapshot `seq` of `run_id` is stored, for error messages.
    fn location(&self, run_id: &str, seq: u64) -> String;
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn upsert(list: &mut Vec<Snapshot>, snapshots: &[Snapshot]) {
    for snapshot in snapshots {
        match list.iter_mut().find(|s| s.seq == snapshot.seq) {
            Some(existing) => *existing = snapshot.clone(),
            None => list.push(snapshot.clone()),
        }
    }
    list.sort_by_key(|s| s.seq);
}

/// Snapshots in memory (the default of a run; lost with the process).
#[derive(Debug, Default)]
pub struct InMemoryPersistence {
    runs: Mutex<HashMap<String, Vec<Snapshot>>>,
}

impl InMemoryPersistence {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The ids of the stored runs.
    pub fn run_ids(&self) -> Vec<String> {
        lock(&self.runs).keys().cloned().collect()
    }
}

impl Persistence for InMemoryPersistence {
    fn save(&self, run_id: &str, snapshots: &[Snapshot]) -> Result<(), PersistenceError> {
        upsert(
            lock(&self.runs).entry(run_id.to_owned()).or_default(),
            snapshots,
        );
        Ok(())
    }

    fn load(&self, run_id: &str) -> Result<Vec<Snapshot>, PersistenceError> {
        Ok(lock(&self.runs).get(run_id).cloned().unwrap_or_default())
    }

    fn location(&self, run_id: &str, seq: u64) -> String {
        format!("memory (run {run_id}, snapshot {seq})")
    }
}

/// Snapshots as JSON files, one file per run: `<dir>/<run_id>.json`, an array of
/// snapshots, replaced atomically (write to a temporary file, then rename).
#[derive(Debug)]
pub struct FilePersistence {
    dir: PathBuf,
    write: Mutex<()>,
}

impl FilePersistence {
    /// Stores runs in `dir` (created on first save).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            write: Mutex::new(()),
        }
    }

    /// The file of `run_id`.
    ///
    /// # Errors
    /// [`PersistenceError::InvalidRunId`] when the id is not a plain file name.
    pub fn path(&self, run_id: &str) -> Result<PathBuf, PersistenceError> {
        let valid = !run_id.is_empty()
            && !run_id.starts_with('.')
            && run_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if valid {
            Ok(self.dir.join(format!("{run_id}.json")))
        } else {
            Err(PersistenceError::InvalidRunId(run_id.to_owned()))
        }
    }

    fn read(path: &Path) -> Result<Vec<Snapshot>, PersistenceError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(PersistenceError::Io {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let corrupt =
            |location: String, reason: String| PersistenceError::Corrupt { location, reason };
        let values: Vec<serde_json::Value> = serde_json::from_str(&text)
            .map_err(|e| corrupt(path.display().to_string(), e.to_string()))?;
        values
            .into_iter()
            .enumerate()
            .map(|(i, value)| {
                serde_json::from_value(value).map_err(|e| {
                    corrupt(format!("{} (snapshot #{i})", path.display()), e.to_string())
                })
            })
            .collect()
    }
}

impl Persistence for FilePersistence {
    fn save(&self, run_id: &str, snapshots: &[Snapshot]) -> Result<(), PersistenceError> {
        let path = self.path(run_id)?;
        let _guard = lock(&self.write);
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| PersistenceError::Io { path, source }
        };
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let mut list = Self::read(&path)?;
        upsert(&mut list, snapshots);
        let text = serde_json::to_string_pretty(&list)?;
        let tmp = self.dir.join(format!(".{run_id}.json.tmp"));
        std::fs::write(&tmp, text).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))
    }

    fn load(&self, run_id: &str) -> Result<Vec<Snapshot>, PersistenceError> {
        let path = self.path(run_id)?;
        let _guard = lock(&self.write);
        Self::read(&path)
    }

    fn location(&self, run_id: &str, seq: u64) -> String {
        match self.path(run_id) {
            Ok(path) => format!("{} (snapshot seq {seq})", path.display()),
            Err(_) => format!(
                "{} (run {run_id:?}, snapshot seq {seq})",
                self.dir.display()
            ),
        }
    }
}

#[cfg(feature = "sqlite")]
pub use sqlite::SqlitePersistence;

#[cfg(feature = "sqlite")]
mod sqlite {
    use std::sync::Mutex;

    use rusqlite::{Connection, params};

    use super::{Persistence, lock};
    use crate::error::PersistenceError;
    use crate::snapshot::Snapshot;

    /// Snapshots in a SQLite database (table `graph_snapshots`, one row per snapshot,
    /// keyed by run id and seq; each save is one transaction).
    #[derive(Debug)]
    pub struct SqlitePersistence {
        conn: Mutex<Connection>,
        location: String,
    }

    impl SqlitePersistence {
        /// Opens (or creates) the database file at `path`.
        ///
        /// # Errors
        /// When the database cannot be opened or the table created.
        pub fn open(path: impl AsRef<std::path::Path>) -> Result<Self, PersistenceError> {
            let location = path.as_ref().display().to_string();
            let conn = Connection::open(path.as_ref()).map_err(|e| db(&location, e))?;
            Self::init(conn, location)
        }

        /// A database in memory.
        ///
        /// # Errors
        /// When SQLite fails.
        pub fn in_memory() -> Result<Self, PersistenceError> {
            let location = ":memory:".to_owned();
            let conn = Connection::open_in_memory().map_err(|e| db(&location, e))?;
            Self::init(conn, location)
        }

        fn init(conn: Connection, location: String) -> Result<Self, PersistenceError> {
            conn.execute_batch(
                "CREATE TABLE IF NOT EXISTS graph_snapshots (
                    run_id TEXT NOT NULL,
                    seq INTEGER NOT NULL,
                    snapshot TEXT NOT NULL,
                    PRIMARY KEY (run_id, seq)
                )",
            )
            .map_err(|e| db(&location, e))?;
            Ok(Self {
                conn: Mutex::new(conn),
                location,
            })
        }

        /// Runs `f` on the connection (to inspect or repair the table).
        pub fn with_connection<T>(&self, f: impl FnOnce(&Connection) -> T) -> T {
            f(&lock(&self.conn))
        }
    }

    fn db(location: &str, source: rusqlite::Error) -> PersistenceError {
        PersistenceError::Database {
            location: location.to_owned(),
            source: Box::new(source),
        }
    }

    impl Persistence for SqlitePersistence {
        fn save(&self, run_id: &str, snapshots: &[Snapshot]) -> Result<(), PersistenceError> {
            let mut conn = lock(&self.conn);
            let tx = conn.transaction().map_err(|e| db(&self.location, e))?;
            for snapshot in snapshots {
                let text = serde_json::to_string(snapshot)?;
                let seq = i64::try_from(snapshot.seq).map_err(|_| PersistenceError::Corrupt {
                    location: self.location(run_id, snapshot.seq),
                    reason: "seq out of range".to_owned(),
                })?;
                tx.execute(
                    "INSERT OR REPLACE INTO graph_snapshots (run_id, seq, snapshot) VALUES (?1, ?2, ?3)",
                    params![run_id, seq, text],
                )
                .map_err(|e| db(&self.location, e))?;
            }
            tx.commit().map_err(|e| db(&self.location, e))
        }

        fn load(&self, run_id: &str) -> Result<Vec<Snapshot>, PersistenceError> {
            let conn = lock(&self.conn);
            let mut stmt = conn
                .prepare("SELECT seq, snapshot FROM graph_snapshots WHERE run_id = ?1 ORDER BY seq")
                .map_err(|e| db(&self.location, e))?;
            let rows = stmt
                .query_map(params![run_id], |row| {
                    Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
                })
                .map_err(|e| db(&self.location, e))?;
            let mut snapshots = Vec::new();
            for row in rows {
                let (seq, text) = row.map_err(|e| db(&self.location, e))?;
                let snapshot: Snapshot =
                    serde_json::from_str(&text).map_err(|e| PersistenceError::Corrupt {
                        location: format!(
                            "{} table graph_snapshots row (run_id={run_id:?}, seq={seq})",
                            self.location
                        ),
                        reason: e.to_string(),
                    })?;
                snapshots.push(snapshot);
            }
            Ok(snapshots)
        }

        fn location(&self, run_id: &str, seq: u64) -> String {
            format!(
                "{} table graph_snapshots row (run_id={run_id:?}, seq={seq})",
                self.location
            )
        }
    }
}
