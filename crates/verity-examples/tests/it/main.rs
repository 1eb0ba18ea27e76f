//! Each example run as its binary, offline: scripted models, the weather API stand-in,
//! a throwaway PostgreSQL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

mod markdown;
mod sql_gen;
mod stream_markdown;
mod stream_whales;
mod weather_agent;

/// What a finished example printed.
pub struct Run {
    pub stdout: String,
    pub stderr: String,
}

/// Run an example binary on the scripted model with extra environment variables and
/// arguments; it must succeed.
pub async fn run_example(bin: &str, envs: &[(&str, &str)], args: &[&str]) -> Run {
    let mut command = tokio::process::Command::new(bin);
    command
        .args(args)
        .env("VERITY_MODEL", "scripted")
        .env_remove("DATABASE_URL")
        .env_remove("WEATHER_API_URL")
        .kill_on_drop(true);
    for (k, v) in envs {
        command.env(k, v);
    }
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), command.output())
        .await
        .expect("the example did not finish in two minutes")
        .unwrap();
    let run = Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        out.status.success(),
        "{bin} failed: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        run.stdout,
        run.stderr
    );
    run
}
