//! PydanticAI's sql_gen example: the model writes a PostgreSQL query for a request
//! about a log table (`records`), and an output validator runs `EXPLAIN` on it against
//! a real database; PostgreSQL's error goes back to the model as a retry prompt.
//!
//! ```text
//! cargo run -p verity-examples --bin sql_gen -- "show me logs from yesterday, with level 'error'"
//! ```
//!
//! The database is `DATABASE_URL` (e.g. `postgresql://postgres:postgres@localhost:54320/postgres`);
//! without it a throwaway server is started (`initdb` + `pg_ctl`, Debian's `postgresql`
//! package: `crates/verity-examples/scripts/install-postgres.sh`) and removed at the end.
//! Offline by default: a scripted model first writes a query naming a column that does
//! not exist, reads PostgreSQL's error, and corrects it. `VERITY_MODEL` runs it on a
//! real model (`openai:gpt-4o`, ...).

use serde_json::json;
use verity::messages::{ModelRequestPart, ToolOutcome};
use verity::prelude::*;
use verity::{ModelRef, ModelRetry};
use verity_examples::pg::TempPostgres;
use verity_examples::support::{Choice, choose_model};

const DB_SCHEMA: &str = "
CREATE TABLE records (
    created_at timestamptz,
    start_timestamp timestamptz,
    end_timestamp timestamptz,
    trace_id text,
    span_id text,
    parent_span_id text,
    level log_level,
    span_name text,
    message text,
    attributes_json_schema text,
    attributes jsonb,
    tags text[],
    is_exception boolean,
    otel_status_message text,
    service_name text
);";

/// Requests and the SQL that answers them, shown to the model.
const SQL_EXAMPLES: &[(&str, &str)] = &[
    (
        "show me records where foobar is false",
        "SELECT * FROM records WHERE attributes->>'foobar' = false",
    ),
    (
        "show me records where attributes include the key \"foobar\"",
        "SELECT * FROM records WHERE attributes ? 'foobar'",
    ),
    (
        "show me records from yesterday",
        "SELECT * FROM records WHERE start_timestamp::date > CURRENT_TIMESTAMP - INTERVAL '1 day'",
    ),
    (
        "show me error records with the tag \"foobar\"",
        "SELECT * FROM records WHERE level = 'error' and 'foobar' = ANY(tags)",
    ),
];

struct Deps {
    conn: tokio_postgres::Client,
}

/// Response when SQL could be successfully generated.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
struct Success {
    /// The SQL query.
    #[schemars(length(min = 1))]
    sql_query: String,
    /// Explanation of the SQL query, as markdown.
    #[serde(default)]
    explanation: String,
}

/// Response the user input didn't include enough information to generate SQL.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
struct InvalidRequest {
    /// What is missing.
    error_message: String,
}

/// The answer: one output tool per variant (`final_result_Success`, `final_result_InvalidRequest`).
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
enum Response {
    /// Response when SQL could be successfully generated.
    Success(Success),
    /// Response the user input didn't include enough information to generate SQL.
    InvalidRequest(InvalidRequest),
}

fn escape_xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn system_prompt() -> String {
    let examples: String = SQL_EXAMPLES
        .iter()
        .map(|(request, response)| {
            format!(
                "  <example>\n    <request>{}</request>\n    <response>{}</response>\n  </example>\n",
                escape_xml(request),
                escape_xml(response)
            )
        })
        .collect();
    format!(
        "Given the following PostgreSQL table of records, your job is to\n\
         write a SQL query that suits the user's request.\n\n\
         Database schema:\n{DB_SCHEMA}\n\n\
         today's date = {}\n\n<examples>\n{examples}</examples>\n",
        chrono::Utc::now().date_naive()
    )
}

fn sql_agent(model: ModelRef) -> Agent<Deps, Response> {
    Agent::builder(model)
        .deps_type::<Deps>()
        .output::<Response>()
        .system_prompt_fn(|_ctx: RunContext<Deps>| async move { system_prompt() })
        .output_validator(|ctx: RunContext<Deps>, output: Response| async move {
            let Response::Success(mut success) = output else {
                return Ok(output);
            };
            // some models add stray backslashes to SQL
            success.sql_query = success.sql_query.replace('\\', "");
            if !success
                .sql_query
                .trim_start()
                .to_uppercase()
                .starts_with("SELECT")
            {
                return Err(ModelRetry::new("Please create a SELECT query"));
            }
            // a prepared statement: one statement only, so nothing can be appended
            let explain = format!("EXPLAIN {}", success.sql_query);
            match ctx.deps().conn.execute(explain.as_str(), &[]).await {
                Ok(_) => Ok(Response::Success(success)),
                Err(e) => Err(ModelRetry::new(format!(
                    "Invalid query: {}",
                    e.as_db_error()
                        .map_or_else(|| e.to_string(), |db| db.message().to_owned())
                ))),
            }
        })
        .output_retries(3)
        .build()
}

/// A deterministic stand-in for the LLM: for a request about logs or records, first a
/// query with a misspelt column (`lvl`), then, told PostgreSQL's error, the right one;
/// anything else is an invalid request.
fn scripted_model() -> FunctionModel {
    FunctionModel::new(|messages, _| {
        let prompt = verity::messages::last_user_prompt(messages).unwrap_or_default();
        let wants_logs = ["log", "record"].iter().any(|w| prompt.to_lowercase().contains(w));
        if !wants_logs {
            return ModelResponse::tool_call(
                "final_result_InvalidRequest",
                json!({"error_message": "The request does not say which records to show."}),
            );
        }
        let told_error = messages.iter().filter_map(|m| m.as_request()).any(|r| {
            r.parts.iter().any(|p| {
                matches!(p, ModelRequestPart::ToolReturn(t) if t.outcome == ToolOutcome::Retried)
            })
        });
        let sql = if told_error {
            "SELECT * FROM records WHERE level = 'error' AND start_timestamp::date = CURRENT_DATE - INTERVAL '1 day'"
        } else {
            "SELECT * FROM records WHERE lvl = 'error' AND start_timestamp::date = CURRENT_DATE - INTERVAL '1 day'"
        };
        ModelResponse::tool_call(
            "final_result_Success",
            json!({
                "sql_query": sql,
                "explanation": "Records from yesterday whose level is `error`."
            }),
        )
    })
    .with_name("scripted-sql")
}

/// Create the `log_level` type and the `records` table unless they exist.
async fn create_schema(conn: &tokio_postgres::Client) -> Result<(), tokio_postgres::Error> {
    let exists = conn
        .query_opt("SELECT 1 FROM pg_type WHERE typname = 'log_level'", &[])
        .await?
        .is_some();
    if !exists {
        conn.batch_execute(&format!(
            "CREATE TYPE log_level AS ENUM ('debug', 'info', 'warning', 'error', 'critical');{DB_SCHEMA}"
        ))
        .await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let prompt = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "show me logs from yesterday, with level \"error\"".to_owned());
    let choice = choose_model(false)?;
    println!("model: {}", choice.describe());
    let model = match choice {
        Choice::Named(m) | Choice::Local(m) => m,
        Choice::Scripted => scripted_model().into_model(),
    };

    // the database: DATABASE_URL, else a throwaway server (stopped when dropped)
    let (dsn, server) = match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => (url, None),
        _ => {
            let server = tokio::task::spawn_blocking(TempPostgres::start).await??;
            println!("database: a throwaway PostgreSQL on port {}", server.port);
            (server.connection_string(), Some(server))
        }
    };
    let (conn, connection) = tokio_postgres::connect(&dsn, tokio_postgres::NoTls).await?;
    let connection = tokio::spawn(connection);
    create_schema(&conn).await?;

    let result = sql_agent(model)
        .run(prompt.as_str())
        .deps(Deps { conn })
        .await;
    connection.abort();
    drop(server);
    let result = result?;
    for message in result.all_messages() {
        for part in message
            .as_request()
            .map(|r| r.parts.as_slice())
            .unwrap_or_default()
        {
            if let ModelRequestPart::ToolReturn(t) = part
                && t.outcome == ToolOutcome::Retried
            {
                println!("retry:  {}", t.content);
            }
        }
    }
    match &result.output {
        Response::Success(Success {
            sql_query,
            explanation,
        }) => println!("sql:    {sql_query}\nwhy:    {explanation}"),
        Response::InvalidRequest(InvalidRequest { error_message }) => {
            println!("invalid request: {error_message}");
        }
    }
    println!("usage:  {:?}", result.usage());
    Ok(())
}
