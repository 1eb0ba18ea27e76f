//! sql_gen against a real PostgreSQL, started once for this test on a free loopback
//! port in a temporary folder and stopped at the end.
use verity_examples::pg::{PgError, TempPostgres};

use crate::run_example;

fn server() -> Option<TempPostgres> {
    match TempPostgres::start() {
        Ok(server) => Some(server),
        Err(e) => {
            if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
                panic!("PostgreSQL is needed in CI: {e}");
            }
            let hint = match e {
                PgError::NotInstalled => "run crates/verity-examples/scripts/install-postgres.sh",
                _ => "see the error above",
            };
            eprintln!(
                "\n*****************************************************************\n\
                 *** SQL_GEN TEST SKIPPED: no PostgreSQL server could be started:\n\
                 *** {e}\n*** ({hint})\n\
                 *****************************************************************\n"
            );
            None
        }
    }
}

#[tokio::test]
async fn invalid_sql_is_sent_back_and_corrected() {
    let Some(mut server) = tokio::task::spawn_blocking(server).await.unwrap() else {
        return;
    };
    let dsn = server.connection_string();
    let run = run_example(
        env!("CARGO_BIN_EXE_sql_gen"),
        &[("DATABASE_URL", &dsn)],
        &["show me logs from yesterday, with level 'error'"],
    )
    .await;
    // EXPLAIN rejected the first query; PostgreSQL's message was the retry prompt
    assert!(
        run.stdout
            .contains(r#"retry:  "Invalid query: column \"lvl\" does not exist""#),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "sql:    SELECT * FROM records WHERE level = 'error' AND start_timestamp::date = CURRENT_DATE - INTERVAL '1 day'"
        ),
        "{}",
        run.stdout
    );

    // a request without enough to go on; the schema already exists this time
    let run = run_example(
        env!("CARGO_BIN_EXE_sql_gen"),
        &[("DATABASE_URL", &dsn)],
        &["hello there"],
    )
    .await;
    assert!(run.stdout.contains("invalid request:"), "{}", run.stdout);

    // the table really is there, as the example created it
    let (client, connection) = tokio_postgres::connect(&dsn, tokio_postgres::NoTls)
        .await
        .unwrap();
    let connection = tokio::spawn(connection);
    let columns = client
        .query(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'records'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(columns.len(), 15);
    drop(client);
    connection.abort();
    tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap()
        .unwrap();
}
