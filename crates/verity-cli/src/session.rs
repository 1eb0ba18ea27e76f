//! Conversations saved in SQLite, each as PydanticAI's message JSON.

use std::path::PathBuf;

use rusqlite::{Connection, OptionalExtension, params};
use verity::ModelMessage;
use verity::messages::{messages_from_json, messages_to_json};

use crate::error::CliError;

/// The data directory: `$VERITY_HOME`, else `$XDG_DATA_HOME/verity`, else
/// `~/.local/share/verity`.
pub fn data_dir() -> Result<PathBuf, CliError> {
    if let Some(home) = std::env::var_os("VERITY_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(home));
    }
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(xdg).join("verity"));
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".local/share/verity")),
        None => Err(CliError::usage(
            "no data directory: set VERITY_HOME (or HOME or XDG_DATA_HOME)",
        )),
    }
}

/// The sessions database.
pub struct Store {
    conn: Connection,
}

/// A saved conversation.
pub struct Loaded {
    pub id: String,
    pub model: String,
    pub title: String,
    pub messages: Vec<ModelMessage>,
}

type Row = (String, String, String, String);

fn loaded((id, model, title, json): Row) -> Result<Loaded, CliError> {
    Ok(Loaded {
        messages: messages_from_json(&json)?,
        id,
        model,
        title,
    })
}

/// A row of `verity sessions`.
pub struct SessionInfo {
    pub id: String,
    pub updated_at: String,
    pub model: String,
    pub title: String,
    pub messages: usize,
}

fn db_err(e: rusqlite::Error) -> CliError {
    CliError::run(format!("sessions database: {e}"))
}

impl Store {
    /// Open (and create) the database in the data directory.
    pub fn open() -> Result<Self, CliError> {
        let dir = data_dir()?;
        std::fs::create_dir_all(&dir).map_err(|e| {
            CliError::usage(format!(
                "cannot create the data directory {}: {e}",
                dir.display()
            ))
        })?;
        let path = dir.join("sessions.db");
        let conn = Connection::open(&path)
            .map_err(|e| CliError::run(format!("cannot open {}: {e}", path.display())))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(db_err)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS sessions (
                id TEXT PRIMARY KEY,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                model TEXT NOT NULL,
                title TEXT NOT NULL,
                message_count INTEGER NOT NULL,
                messages TEXT NOT NULL
            );
            CREATE INDEX IF NOT EXISTS sessions_updated ON sessions(updated_at);",
        )
        .map_err(db_err)?;
        Ok(Self { conn })
    }

    /// A fresh session id.
    pub fn new_id() -> String {
        let id = uuid::Uuid::now_v7().simple().to_string();
        // the random tail: short, and unique enough for one user's sessions
        id.chars()
            .rev()
            .take(10)
            .collect::<String>()
            .chars()
            .rev()
            .collect()
    }

    /// Save (insert or replace) a session's whole history.
    pub fn save(
        &self,
        id: &str,
        model: &str,
        title: &str,
        messages: &[ModelMessage],
    ) -> Result<(), CliError> {
        let json = messages_to_json(messages)?;
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        self.conn
            .execute(
                "INSERT INTO sessions (id, created_at, updated_at, model, title, message_count, messages)
                 VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(id) DO UPDATE SET updated_at = ?2, model = ?3, message_count = ?5, messages = ?6",
                params![id, now, model, title, messages.len() as i64, json],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// The most recently updated session: its id and messages.
    pub fn last(&self) -> Result<Option<Loaded>, CliError> {
        let row: Option<Row> = self
            .conn
            .query_row(
                "SELECT id, model, title, messages FROM sessions ORDER BY updated_at DESC, rowid DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .map_err(db_err)?;
        row.map(loaded).transpose()
    }

    /// The session whose id is `id` or starts with it (a unique prefix).
    pub fn get(&self, id: &str) -> Result<Loaded, CliError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, model, title, messages FROM sessions WHERE id = ?1 OR id LIKE ?2 || '%' LIMIT 3")
            .map_err(db_err)?;
        let rows: Vec<Row> = stmt
            .query_map(params![id, id.replace(['%', '_'], "")], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .map_err(db_err)?
            .collect::<Result<_, _>>()
            .map_err(db_err)?;
        let exact = rows.iter().find(|row| row.0 == id);
        let row = match (exact, rows.as_slice()) {
            (Some(row), _) | (None, [row]) => row,
            (None, []) => {
                return Err(CliError::usage(format!(
                    "no session '{id}' (see `verity sessions`)"
                )));
            }
            (None, _) => {
                return Err(CliError::usage(format!(
                    "session id '{id}' is ambiguous: give more characters"
                )));
            }
        };
        loaded(row.clone())
    }

    /// The newest sessions first.
    pub fn list(&self, limit: usize) -> Result<Vec<SessionInfo>, CliError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, updated_at, model, title, message_count FROM sessions
                 ORDER BY updated_at DESC, rowid DESC LIMIT ?1",
            )
            .map_err(db_err)?;
        stmt.query_map(params![limit as i64], |r| {
            Ok(SessionInfo {
                id: r.get(0)?,
                updated_at: r.get(1)?,
                model: r.get(2)?,
                title: r.get(3)?,
                messages: usize::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
            })
        })
        .map_err(db_err)?
        .collect::<Result<_, _>>()
        .map_err(db_err)
    }
}

/// `verity sessions`.
pub fn print_sessions(store: &Store, limit: usize) -> Result<(), CliError> {
    let sessions = store.list(limit)?;
    if sessions.is_empty() {
        outln!("No saved sessions yet.");
        return Ok(());
    }
    outln!(
        "{:<10}  {:<19}  {:>4}  {:<28}  title",
        "id",
        "updated",
        "msgs",
        "model"
    );
    for s in sessions {
        let when = s
            .updated_at
            .replace('T', " ")
            .chars()
            .take(19)
            .collect::<String>();
        outln!(
            "{:<10}  {:<19}  {:>4}  {:<28}  {}",
            s.id,
            when,
            s.messages,
            s.model,
            s.title
        );
    }
    Ok(())
}

/// A session's title: the first line of its first prompt, shortened.
pub fn title_of(prompt: &str) -> String {
    let line = prompt
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    if line.chars().count() > 60 {
        line.chars().take(59).collect::<String>() + "…"
    } else {
        line.to_owned()
    }
}

/// Load a `--history` file; a missing file is an empty history.
pub fn load_history_file(path: &std::path::Path) -> Result<Vec<ModelMessage>, CliError> {
    match std::fs::read_to_string(path) {
        Ok(json) if json.trim().is_empty() => Ok(Vec::new()),
        Ok(json) => messages_from_json(&json).map_err(|e| {
            CliError::usage(format!(
                "{}: {}",
                path.display(),
                crate::error::one_line(&e)
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(CliError::usage(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// Write a history file (PydanticAI's message JSON).
pub fn save_history_file(
    path: &std::path::Path,
    messages: &[ModelMessage],
) -> Result<(), CliError> {
    let json = messages_to_json(messages)?;
    std::fs::write(path, json)
        .map_err(|e| CliError::usage(format!("cannot write {}: {e}", path.display())))
}
