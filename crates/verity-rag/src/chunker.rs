//! Markdown split into chunks by headings.
//!
//! A page is cut into sections at its `#`, `##` and `###` headings (deeper headings stay
//! inside their section). A section longer than [`ChunkOptions::max_chars`] is split
//! between blocks (paragraphs, lists, code fences: text separated by blank lines), then
//! between lines, then between words; a code fence is never split, so a fence longer
//! than the cap becomes one chunk of its own. Headings inside fences are code, not
//! headings.

/// How pages are cut.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChunkOptions {
    /// The most characters a chunk holds (a single code fence may exceed it).
    pub max_chars: usize,
    /// The deepest heading level that starts a section (3: `#`, `##`, `###`).
    pub max_heading_level: usize,
}

impl Default for ChunkOptions {
    fn default() -> Self {
        ChunkOptions {
            max_chars: 2000,
            max_heading_level: 3,
        }
    }
}

impl ChunkOptions {
    /// Options with this size cap (at least 1).
    pub fn with_max_chars(mut self, max_chars: usize) -> Self {
        self.max_chars = max_chars.max(1);
        self
    }
}

/// One chunk of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The headings above the chunk, outermost first (`["Agents", "Running Agents"]`).
    pub headings: Vec<String>,
    /// The chunk's Markdown (a section's first chunk starts with its heading line).
    pub content: String,
}

/// A heading line outside fences: its level and text.
fn heading(line: &str) -> Option<(usize, &str)> {
    let hashes = line.bytes().take_while(|b| *b == b'#').count();
    if hashes == 0 || hashes > 6 {
        return None;
    }
    let rest = line.get(hashes..)?;
    if !(rest.is_empty() || rest.starts_with(' ') || rest.starts_with('\t')) {
        return None;
    }
    let text = rest.trim().trim_end_matches('#').trim();
    Some((hashes, text))
}

/// A fence opener or closer: its character and length (at least three).
fn fence(line: &str) -> Option<(char, usize)> {
    let t = line.trim_start();
    let c = t.chars().next()?;
    if c != '`' && c != '~' {
        return None;
    }
    let n = t.chars().take_while(|x| *x == c).count();
    (n >= 3).then_some((c, n))
}

/// Tracks whether a line is inside a code fence.
#[derive(Default)]
struct FenceState {
    open: Option<(char, usize)>,
}

impl FenceState {
    /// Feeds one line; true when the line belongs to a fence (its opener, body or closer).
    fn feed(&mut self, line: &str) -> bool {
        match (self.open, fence(line)) {
            (None, Some(f)) => {
                self.open = Some(f);
                true
            }
            (None, None) => false,
            (Some((c, n)), Some((c2, n2))) if c == c2 && n2 >= n && only_fence(line, c) => {
                self.open = None;
                true
            }
            (Some(_), _) => true,
        }
    }
}

/// A closing fence carries nothing but the fence characters.
fn only_fence(line: &str, c: char) -> bool {
    line.trim().chars().all(|x| x == c)
}

/// Splits a Markdown page into chunks.
pub fn chunk_markdown(text: &str, options: &ChunkOptions) -> Vec<Chunk> {
    let max_level = options.max_heading_level.clamp(1, 6);
    let mut chunks = Vec::new();
    let mut path: Vec<(usize, String)> = Vec::new();
    let mut body: Vec<&str> = Vec::new();
    let mut fences = FenceState::default();
    for line in strip_front_matter(text).lines() {
        let in_fence = fences.feed(line);
        if !in_fence && let Some((level, title)) = heading(line).filter(|(l, _)| *l <= max_level) {
            flush(&path, &body, options, &mut chunks);
            body.clear();
            path.retain(|(l, _)| *l < level);
            path.push((level, title.to_owned()));
        }
        body.push(line);
    }
    flush(&path, &body, options, &mut chunks);
    chunks
}

/// YAML front matter (`---` … `---` at the very top) is metadata, not content.
fn strip_front_matter(text: &str) -> &str {
    let Some(rest) = text.strip_prefix("---\n") else {
        return text;
    };
    match rest.find("\n---\n") {
        Some(end) => rest.get(end + 5..).unwrap_or(""),
        None => text,
    }
}

/// Turns one section into chunks of at most the cap.
fn flush(path: &[(usize, String)], body: &[&str], options: &ChunkOptions, out: &mut Vec<Chunk>) {
    // a heading with nothing under it (before its first subheading) is no chunk
    let has_content = body
        .iter()
        .any(|l| !l.trim().is_empty() && heading(l).is_none());
    if !has_content {
        return;
    }
    let headings: Vec<String> = path.iter().map(|(_, t)| t.clone()).collect();
    for content in split_section(body, options.max_chars.max(1)) {
        out.push(Chunk {
            headings: headings.clone(),
            content,
        });
    }
}

/// Blocks of a section: runs of lines separated by blank lines, a fence always whole.
/// The flag tells whether a block is a fence (which is never split).
fn blocks<'a>(body: &[&'a str]) -> Vec<(Vec<&'a str>, bool)> {
    let mut out = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    let mut fences = FenceState::default();
    let mut fence_block: Option<Vec<&str>> = None;
    for line in body {
        let was_open = fences.open.is_some();
        let in_fence = fences.feed(line);
        if in_fence {
            if !was_open {
                // an opener: what came before is its own block
                if !current.is_empty() {
                    out.push((std::mem::take(&mut current), false));
                }
                fence_block = Some(vec![line]);
            } else if let Some(f) = fence_block.as_mut() {
                f.push(line);
            }
            if fences.open.is_none()
                && let Some(f) = fence_block.take()
            {
                out.push((f, true));
            }
            continue;
        }
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push((std::mem::take(&mut current), false));
            }
        } else {
            current.push(line);
        }
    }
    // an unclosed fence runs to the end of the section
    if let Some(f) = fence_block.take() {
        out.push((f, true));
    }
    if !current.is_empty() {
        out.push((current, false));
    }
    out
}

fn split_section(body: &[&str], cap: usize) -> Vec<String> {
    let whole = body.join("\n");
    let whole = whole.trim();
    if whole.chars().count() <= cap {
        return vec![whole.to_owned()];
    }
    // pieces no longer than the cap (a fence may be longer), then packed greedily
    let mut pieces: Vec<String> = Vec::new();
    for (lines, is_fence) in blocks(body) {
        let text = lines.join("\n");
        if is_fence || text.chars().count() <= cap {
            pieces.push(text);
        } else {
            pieces.extend(split_long(&lines, cap));
        }
    }
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut current_len = 0usize;
    for piece in pieces {
        let len = piece.chars().count();
        if !current.is_empty() && current_len + 2 + len > cap {
            out.push(std::mem::take(&mut current));
            current_len = 0;
        }
        if !current.is_empty() {
            current.push_str("\n\n");
            current_len += 2;
        }
        current.push_str(&piece);
        current_len += len;
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// A block longer than the cap (not a fence): split between lines, then between words,
/// then between characters.
fn split_long(lines: &[&str], cap: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut current_len = 0usize;
    let mut push = |part: &str, sep: &str, out: &mut Vec<String>| {
        let len = part.chars().count();
        if !current.is_empty() && current_len + sep.len() + len > cap {
            out.push(std::mem::take(&mut current));
            current_len = 0;
        }
        if !current.is_empty() {
            current.push_str(sep);
            current_len += sep.len();
        }
        current.push_str(part);
        current_len += len;
    };
    for line in lines {
        if line.chars().count() <= cap {
            push(line, "\n", &mut out);
            continue;
        }
        for word in line.split(' ') {
            if word.chars().count() <= cap {
                push(word, " ", &mut out);
            } else {
                let chars: Vec<char> = word.chars().collect();
                for part in chars.chunks(cap) {
                    push(&part.iter().collect::<String>(), "", &mut out);
                }
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}
