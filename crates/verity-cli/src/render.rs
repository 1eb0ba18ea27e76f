//! Writing answers: plain text, or Markdown rendered block by block as it streams; the
//! spinner shown until the first token.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// Write a line to stdout; a closed pipe (`verity ... | head`) ends the program quietly.
pub fn write_out(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    check(writeln!(out, "{args}").and_then(|()| out.flush()));
}

/// Write a piece of text to stdout and flush it.
fn write_raw(text: &str) {
    let mut out = std::io::stdout().lock();
    check(out.write_all(text.as_bytes()).and_then(|()| out.flush()));
}

fn check(result: std::io::Result<()>) {
    if let Err(e) = result {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("verity: cannot write to stdout: {e}");
        std::process::exit(1);
    }
}

/// Where a streamed answer goes.
pub struct Sink {
    markdown: bool,
    /// Whether the plain text written so far ends with a newline (or is empty).
    at_line_start: bool,
    /// Markdown not rendered yet (the block in progress).
    pending: String,
    /// The raw text of the block in progress, as shown on the terminal.
    shown: String,
    skin: termimad::MadSkin,
}

impl Sink {
    pub fn new(markdown: bool) -> Self {
        Self {
            markdown,
            at_line_start: true,
            pending: String::new(),
            shown: String::new(),
            skin: termimad::MadSkin::default(),
        }
    }

    /// Append a piece of the answer. In Markdown mode the block in progress is shown
    /// raw as it streams, then replaced by its rendering once it is complete.
    pub fn push(&mut self, delta: &str) {
        if delta.is_empty() {
            return;
        }
        if !self.markdown {
            write_raw(delta);
            self.at_line_start = delta.ends_with('\n');
            return;
        }
        self.pending.push_str(delta);
        match complete_blocks(&self.pending) {
            Some(end) => {
                let rest = self.pending.split_off(end);
                let done = std::mem::replace(&mut self.pending, rest);
                self.erase_shown();
                self.render(&done);
                write_raw(&self.pending);
                self.shown = self.pending.clone();
            }
            None => {
                write_raw(delta);
                self.shown.push_str(delta);
            }
        }
    }

    /// The answer is complete (or was cancelled): write what is left.
    pub fn finish(&mut self) {
        if self.markdown {
            let rest = std::mem::take(&mut self.pending);
            self.erase_shown();
            if !rest.trim().is_empty() {
                self.render(&rest);
            }
        } else if !self.at_line_start {
            write_raw("\n");
            self.at_line_start = true;
        }
    }

    /// Erase the raw text of the block in progress from the terminal.
    fn erase_shown(&mut self) {
        let shown = std::mem::take(&mut self.shown);
        if shown.is_empty() {
            return;
        }
        // a terminal of unknown width (0) does not wrap
        let width = usize::from(termimad::terminal_size().0);
        let rows: usize = shown
            .split('\n')
            .map(|line| match width {
                0 => 1,
                w => line.chars().count().div_ceil(w).max(1),
            })
            .sum();
        let up = rows.saturating_sub(1);
        if up > 0 {
            write_raw(&format!("\x1b[{up}A"));
        }
        write_raw("\r\x1b[J");
    }

    fn render(&self, text: &str) {
        for (fence, segment) in split_fences(text) {
            let segment = segment.trim_end_matches('\n');
            if segment.trim().is_empty() {
                continue;
            }
            match fence {
                Some(lang) => write_raw(&highlight(lang, segment)),
                None => write_raw(&self.skin.term_text(segment).to_string()),
            }
        }
    }
}

/// `text` cut into Markdown and fenced code: `(Some(lang), code)` for the inside of a
/// fence, `(None, markdown)` for the rest.
fn split_fences(text: &str) -> Vec<(Option<&str>, &str)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut pos = 0;
    let mut fence: Option<&str> = None;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        let is_fence = trimmed.starts_with("```") || trimmed.starts_with("~~~");
        if is_fence {
            let before = text.get(start..pos).unwrap_or("");
            match fence {
                None => {
                    out.push((None, before));
                    fence = Some(trimmed.get(3..).unwrap_or("").trim());
                }
                Some(lang) => {
                    out.push((Some(lang), before));
                    fence = None;
                }
            }
            start = pos + line.len();
        }
        pos += line.len();
    }
    let rest = text.get(start..).unwrap_or("");
    match fence {
        // an unclosed fence (a cancelled answer): still code
        Some(lang) => out.push((Some(lang), rest)),
        None => out.push((None, rest)),
    }
    out
}

/// Code highlighted for a 24-bit terminal (syntect), indented by two spaces.
fn highlight(lang: &str, code: &str) -> String {
    use std::sync::OnceLock;
    use syntect::easy::HighlightLines;
    use syntect::highlighting::ThemeSet;
    use syntect::parsing::SyntaxSet;
    use syntect::util::{LinesWithEndings, as_24_bit_terminal_escaped};

    static SYNTAXES: OnceLock<SyntaxSet> = OnceLock::new();
    static THEMES: OnceLock<ThemeSet> = OnceLock::new();
    let syntaxes = SYNTAXES.get_or_init(SyntaxSet::load_defaults_newlines);
    let themes = THEMES.get_or_init(ThemeSet::load_defaults);
    let syntax = syntaxes
        .find_syntax_by_token(lang)
        .unwrap_or_else(|| syntaxes.find_syntax_plain_text());
    let Some(theme) = themes.themes.get("base16-ocean.dark") else {
        return format!("{code}\n");
    };
    let mut h = HighlightLines::new(syntax, theme);
    let mut out = String::new();
    for line in LinesWithEndings::from(code) {
        match h.highlight_line(line, syntaxes) {
            Ok(ranges) => {
                out.push_str("  ");
                out.push_str(&as_24_bit_terminal_escaped(&ranges, false));
            }
            Err(_) => {
                out.push_str("  ");
                out.push_str(line);
            }
        }
    }
    out.push_str("\x1b[0m\n");
    out
}

/// The end of the last complete Markdown block in `text` (after a blank line outside a
/// code fence, or after a closing fence), if any.
fn complete_blocks(text: &str) -> Option<usize> {
    let mut in_fence = false;
    let mut end = None;
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        pos += line.len();
        if !line.ends_with('\n') {
            break;
        }
        let trimmed = line.trim();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
            if !in_fence {
                end = Some(pos);
            }
        } else if !in_fence && trimmed.is_empty() {
            end = Some(pos);
        }
    }
    end
}

/// A spinner on stderr until the first token (only when stderr is a terminal).
pub struct Spinner {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Spinner {
    pub fn start(enabled: bool) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = (enabled && std::io::stderr().is_terminal()).then(|| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                const FRAMES: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
                // a short grace period: fast answers show no spinner at all
                std::thread::sleep(Duration::from_millis(100));
                let mut shown = false;
                for frame in FRAMES.iter().cycle() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    eprint!("\r\x1b[2m{frame} thinking…\x1b[0m");
                    shown = true;
                    std::thread::sleep(Duration::from_millis(80));
                }
                if shown {
                    eprint!("\r\x1b[2K");
                }
            })
        });
        Self { stop, thread }
    }

    /// Stop and erase the spinner.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::complete_blocks;

    #[test]
    fn blocks_end_at_blank_lines_outside_fences() {
        assert_eq!(complete_blocks("# Title\n\nSome"), Some(9));
        assert_eq!(complete_blocks("```\ncode\n\nmore"), None);
        assert_eq!(complete_blocks("```\ncode\n```\nx"), Some(13));
        assert_eq!(complete_blocks("no newline"), None);
    }

    #[test]
    fn fences_are_cut_out() {
        let parts = super::split_fences("text\n```rust\nfn x() {}\n```\nmore\n");
        assert_eq!(
            parts,
            [
                (None, "text\n"),
                (Some("rust"), "fn x() {}\n"),
                (None, "more\n")
            ]
        );
    }
}
