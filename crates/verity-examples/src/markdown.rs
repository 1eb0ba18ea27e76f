//! Markdown rendered live in a terminal while it streams (termimad).
//!
//! Each update renders the text again, not just the new piece: the block in progress
//! (after the last blank line outside a code fence) is erased and drawn anew from the
//! whole text received so far, so emphasis, lists and code take their final look as
//! soon as their Markdown is complete. Blocks that are complete are drawn once and
//! kept, so a long answer that scrolls off the screen is never drawn twice. When the
//! output is not a terminal, nothing is drawn until [`LiveMarkdown::finish`] writes
//! the whole rendered text, without colours.

use std::io::Write;

use termimad::MadSkin;

/// Width used when the output is not a terminal.
const PLAIN_WIDTH: usize = 80;

/// A live Markdown view over a writer.
pub struct LiveMarkdown<W: Write> {
    out: W,
    live: bool,
    width: usize,
    skin: MadSkin,
    /// Bytes of the text already drawn for good (complete blocks).
    committed: usize,
    /// Rows the block in progress takes on the screen.
    shown_rows: usize,
}

impl<W: Write> LiveMarkdown<W> {
    /// A view writing to `out`: live (ANSI cursor movements and colours, `width`
    /// columns) when `live`, else the plain final rendering only.
    pub fn new(out: W, live: bool, width: usize) -> Self {
        LiveMarkdown {
            out,
            live,
            // a terminal that reports no usable width gets the plain width
            width: if live && width >= 20 {
                width
            } else {
                PLAIN_WIDTH
            },
            skin: if live {
                MadSkin::default()
            } else {
                MadSkin::no_style()
            },
            committed: 0,
            shown_rows: 0,
        }
    }

    /// A view on stdout, live when stdout is a terminal.
    pub fn stdout() -> LiveMarkdown<std::io::Stdout> {
        use std::io::IsTerminal;
        let stdout = std::io::stdout();
        let live = stdout.is_terminal();
        LiveMarkdown::new(stdout, live, usize::from(termimad::terminal_size().0))
    }

    /// Show `text`, the whole answer so far.
    pub fn update(&mut self, text: &str) -> std::io::Result<()> {
        if !self.live {
            return Ok(());
        }
        let done = complete_blocks(text).unwrap_or(0);
        if done > self.committed {
            let block = text.get(self.committed..done).unwrap_or_default();
            self.erase()?;
            let rendered = self.render(block);
            // the blank line that ended the block
            writeln!(self.out, "{rendered}")?;
            self.committed = done;
        }
        let tail = text.get(self.committed..).unwrap_or_default();
        self.erase()?;
        if !tail.trim().is_empty() {
            let rendered = self.render(tail);
            self.shown_rows = rendered.matches('\n').count();
            write!(self.out, "{rendered}")?;
        }
        self.out.flush()
    }

    /// The answer is complete: draw what is left (or, not live, all of it).
    pub fn finish(&mut self, text: &str) -> std::io::Result<()> {
        if self.live {
            self.update(text)?;
        } else {
            let rendered = self.render(text);
            write!(self.out, "{rendered}")?;
        }
        self.out.flush()
    }

    /// The writer back.
    pub fn into_inner(self) -> W {
        self.out
    }

    /// The rendering of `markdown`, ending with a newline.
    fn render(&self, markdown: &str) -> String {
        let mut out = self
            .skin
            .text(markdown.trim_end_matches('\n'), Some(self.width))
            .to_string();
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out
    }

    /// Erase the rows of the block in progress.
    fn erase(&mut self) -> std::io::Result<()> {
        if self.shown_rows > 0 {
            // up to the block's first row, to column 0, clear to the end of the screen
            write!(self.out, "\x1b[{}A\r\x1b[J", self.shown_rows)?;
            self.shown_rows = 0;
        }
        Ok(())
    }
}

/// The end of the last complete block of `text`: after a blank line outside a code
/// fence, or after a closing fence.
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
}
