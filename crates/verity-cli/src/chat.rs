//! The interactive chat: line editing, slash commands, Ctrl-C and Ctrl-D.

use std::io::Write;
use std::process::{Command, Stdio};

use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;

use crate::error::CliError;
use crate::turn::{Context, Outcome};

const HELP: &str = "\
Commands:
  /help          this help
  /exit          leave (or Ctrl-D)
  /markdown      show the last answer's raw Markdown
  /multiline     toggle multi-line input (a blank line sends)
  /usage         tokens used in this session
  /model [NAME]  show or switch the model
  /save FILE     save the conversation as JSON (PydanticAI's message format)
  /cp            copy the last answer to the clipboard
Ctrl-C cancels the answer in progress (or clears the line); Ctrl-D exits.";

/// Run the chat until `/exit` or Ctrl-D.
pub fn run(ctx: &mut Context, runtime: &tokio::runtime::Runtime) -> Result<(), CliError> {
    let mut editor = DefaultEditor::new()
        .map_err(|e| CliError::run(format!("cannot start line editing: {e}")))?;
    let history_path = crate::session::data_dir()
        .ok()
        .map(|d| d.join("prompt-history.txt"));
    if let Some(path) = &history_path {
        let _ = editor.load_history(path);
    }
    eprintln!(
        "verity {} · model {}{} · /help for commands, Ctrl-D to exit",
        env!("CARGO_PKG_VERSION"),
        ctx.model_name,
        ctx.session_id()
            .map(|id| format!(" · session {id}"))
            .unwrap_or_default(),
    );
    if !ctx.history.is_empty() {
        eprintln!(
            "(continuing a conversation of {} messages)",
            ctx.history.len()
        );
    }
    let mut multiline = false;
    loop {
        let input = match read_input(&mut editor, multiline) {
            Ok(Some(input)) => input,
            Ok(None) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(CliError::run(format!("cannot read input: {e}"))),
        };
        let trimmed = input.trim();
        if trimmed.is_empty() {
            continue;
        }
        let _ = editor.add_history_entry(trimmed);
        if let Some(history) = &history_path {
            let _ = editor.save_history(history);
        }
        if let Some(command) = trimmed.strip_prefix('/') {
            match slash(ctx, command, &mut multiline) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => eprintln!("error: {}", e.message),
            }
            continue;
        }
        match runtime.block_on(ctx.turn(&input)) {
            Ok(Outcome::Done | Outcome::Cancelled) => {}
            Err(e) => eprintln!("error: {}", e.message),
        }
        outln!();
    }
    Ok(())
}

/// One prompt: a line, or in multi-line mode the lines up to a blank one. `Ok(None)`
/// when Ctrl-C cleared the input.
fn read_input(
    editor: &mut DefaultEditor,
    multiline: bool,
) -> Result<Option<String>, ReadlineError> {
    let first = match editor.readline("> ") {
        Ok(line) => line,
        Err(ReadlineError::Interrupted) => return Ok(None),
        Err(e) => return Err(e),
    };
    if !multiline || first.trim_start().starts_with('/') {
        return Ok(Some(first));
    }
    let mut lines = vec![first];
    loop {
        match editor.readline("… ") {
            Ok(line) if line.trim().is_empty() => break,
            Ok(line) => lines.push(line),
            Err(ReadlineError::Interrupted) => return Ok(None),
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e),
        }
    }
    Ok(Some(lines.join("\n")))
}

/// A slash command; `Ok(false)` to leave.
fn slash(ctx: &mut Context, command: &str, multiline: &mut bool) -> Result<bool, CliError> {
    let (name, arg) = command
        .split_once(char::is_whitespace)
        .map_or((command, ""), |(n, a)| (n, a.trim()));
    match name {
        "exit" | "quit" => return Ok(false),
        "help" => outln!("{HELP}"),
        "markdown" => match &ctx.last_answer {
            Some(answer) => outln!("{answer}"),
            None => outln!("No answer yet."),
        },
        "multiline" => {
            *multiline = !*multiline;
            if *multiline {
                outln!("Multi-line input on: a blank line sends.");
            } else {
                outln!("Multi-line input off.");
            }
        }
        "usage" => {
            let u = &ctx.usage;
            outln!(
                "{} requests · {} input tokens · {} output tokens · {} total",
                u.requests,
                u.input_tokens,
                u.output_tokens,
                u.input_tokens + u.output_tokens
            );
        }
        "model" if arg.is_empty() => outln!("Model: {}", ctx.model_name),
        "model" => {
            ctx.set_model(arg)?;
            outln!("Model: {}", ctx.model_name);
        }
        "save" if arg.is_empty() => return Err(CliError::usage("usage: /save FILE")),
        "save" => {
            crate::session::save_history_file(std::path::Path::new(arg), &ctx.history)?;
            outln!("Saved {} messages to {arg}.", ctx.history.len());
        }
        "cp" => match &ctx.last_answer {
            None => outln!("No answer to copy yet."),
            Some(answer) => match copy_to_clipboard(answer) {
                Ok(tool) => outln!("Copied the last answer to the clipboard ({tool})."),
                Err(why) => outln!("Cannot copy: {why}. Use /save FILE or /markdown instead."),
            },
        },
        other => {
            return Err(CliError::usage(format!(
                "unknown command /{other} (see /help)"
            )));
        }
    }
    Ok(true)
}

/// Copy through the platform's clipboard tool.
fn copy_to_clipboard(text: &str) -> Result<&'static str, String> {
    let candidates: &[(&str, &[&str], bool)] = &[
        ("pbcopy", &[], false),
        ("wl-copy", &[], true),
        ("xclip", &["-selection", "clipboard"], true),
        ("xsel", &["--clipboard", "--input"], true),
        ("clip.exe", &[], false),
    ];
    let has_display =
        std::env::var_os("WAYLAND_DISPLAY").is_some() || std::env::var_os("DISPLAY").is_some();
    for (tool, args, needs_display) in candidates {
        if *needs_display && !has_display {
            continue;
        }
        let Ok(mut child) = Command::new(tool)
            .args(*args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        else {
            continue;
        };
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(text.as_bytes());
        }
        if child.wait().is_ok_and(|s| s.success()) {
            return Ok(tool);
        }
    }
    Err(
        "no clipboard available (no display, or none of pbcopy, wl-copy, xclip, xsel found)"
            .to_owned(),
    )
}
