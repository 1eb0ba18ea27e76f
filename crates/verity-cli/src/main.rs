//! `verity`: chat with any model from the terminal.
//!
//! Exit codes: 0 success; 1 the model or the run failed (network, provider status, bad
//! key); 2 a usage error (bad flags, unknown model, unreadable file, unknown session);
//! 3 `verity eval run --baseline`: a regression past the threshold; 101 an internal
//! error (a bug); 130 interrupted by Ctrl-C.

/// `println!` that ends the program quietly on a closed pipe.
macro_rules! outln {
    () => { $crate::render::write_out(format_args!("")) };
    ($($t:tt)*) => { $crate::render::write_out(format_args!($($t)*)) };
}

mod chat;
mod cli;
mod error;
mod eval;
mod local;
mod models;
mod render;
mod session;
mod turn;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::cli::{Cli, Command};
use crate::error::CliError;

fn main() -> ExitCode {
    // a bug is one line too, never a backtrace (exit code 101)
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".to_owned());
        eprintln!("verity: internal error (a bug, please report it): {msg}");
    }));
    let cli = Cli::parse();
    match real_main(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if !e.message.is_empty() {
                eprintln!("verity: {}", e.message);
            }
            ExitCode::from(e.code)
        }
    }
}

fn real_main(cli: Cli) -> Result<(), CliError> {
    match &cli.command {
        Some(Command::Completions { shell }) => {
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "verity", &mut script);
            outln!("{}", String::from_utf8_lossy(&script).trim_end());
            return Ok(());
        }
        Some(Command::Eval {
            command: cli::EvalCommand::Run(args),
        }) => return eval::run(args),
        Some(Command::Sessions { limit }) => {
            let store = session::Store::open()?;
            return session::print_sessions(&store, *limit);
        }
        None => {}
    }
    if cli.list_models {
        models::list_models();
        return Ok(());
    }
    // with OTEL_EXPORTER_OTLP_ENDPOINT set, the runs' spans and metrics are exported
    // (flushed when the guard drops, after the runtime's work is done)
    #[cfg(feature = "otel")]
    let _telemetry = match std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT") {
        Some(_) => Some(
            verity::telemetry::init()
                .map_err(|e| CliError::usage(format!("cannot export telemetry over OTLP: {e}")))?,
        ),
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::run(format!("cannot start the async runtime: {e}")))?;
    let prompt = match cli.prompt.as_deref() {
        Some("-") => Some(read_stdin()?),
        Some(p) => Some(p.to_owned()),
        None if !std::io::stdin().is_terminal() => Some(read_stdin()?),
        None => None,
    };
    let mut ctx = turn::Context::new(&cli, &runtime)?;
    match prompt {
        Some(prompt) => ctx.one_shot(&runtime, &prompt),
        None => chat::run(&mut ctx, &runtime),
    }
}

fn read_stdin() -> Result<String, CliError> {
    let mut s = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
        .map_err(|e| CliError::usage(format!("cannot read the prompt from stdin: {e}")))?;
    if s.trim().is_empty() {
        return Err(CliError::usage("the prompt from stdin is empty"));
    }
    Ok(s)
}
