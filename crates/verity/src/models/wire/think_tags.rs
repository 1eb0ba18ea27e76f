//! Thinking embedded in text between tags.

use std::borrow::Cow;

/// The default tags are borrowed: a response of a model with the usual tags allocates
/// nothing for them.
fn tag(text: &str) -> Cow<'static, str> {
    match text {
        "<think>" => Cow::Borrowed("<think>"),
        "</think>" => Cow::Borrowed("</think>"),
        other => Cow::Owned(other.to_owned()),
    }
}

/// Splits text into thinking and non-thinking pieces at a profile's thinking tags
/// (`<think>`/`</think>` by default), however the text is cut into deltas.
#[derive(Debug)]
pub(crate) struct TagSplitter {
    start: Cow<'static, str>,
    end: Cow<'static, str>,
    thinking: bool,
    pending: String,
}

impl TagSplitter {
    /// A splitter for the tags `start` and `end`; an empty tag never matches.
    pub(crate) fn new(start: &str, end: &str) -> Self {
        TagSplitter {
            start: tag(start),
            end: tag(end),
            thinking: false,
            pending: String::new(),
        }
    }

    /// The pieces of `text` that are settled, each marked thinking or not; a suffix
    /// that could begin a tag waits for the next call.
    pub(crate) fn feed(&mut self, text: &str) -> Vec<(bool, String)> {
        let mut buf = std::mem::take(&mut self.pending);
        buf.push_str(text);
        let mut out = Vec::new();
        loop {
            let tag = if self.thinking {
                &self.end
            } else {
                &self.start
            };
            if tag.is_empty() {
                if !buf.is_empty() {
                    out.push((self.thinking, buf));
                }
                return out;
            }
            if let Some(pos) = buf.find(&**tag) {
                let (before, rest) = buf.split_at(pos);
                if !before.is_empty() {
                    out.push((self.thinking, before.to_owned()));
                }
                buf = rest.get(tag.len()..).unwrap_or_default().to_owned();
                self.thinking = !self.thinking;
                continue;
            }
            // keep a suffix that could be the start of the tag
            let keep = (1..tag.len().min(buf.len() + 1))
                .rev()
                .find(|&n| {
                    buf.is_char_boundary(buf.len() - n) && tag.starts_with(&buf[buf.len() - n..])
                })
                .unwrap_or(0);
            let cut = buf.len() - keep;
            if cut > 0 {
                out.push((self.thinking, buf.get(..cut).unwrap_or_default().to_owned()));
            }
            self.pending = buf.get(cut..).unwrap_or_default().to_owned();
            return out;
        }
    }

    /// What is left at the end of the text.
    pub(crate) fn finish(&mut self) -> Option<(bool, String)> {
        let rest = std::mem::take(&mut self.pending);
        (!rest.is_empty()).then_some((self.thinking, rest))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn tag_splitting_does_not_depend_on_how_text_is_cut() {
        let text = "<think>\nhmm, <b>bold</b>\n</think>\n\nThe answer <thin";
        let whole = {
            let mut s = TagSplitter::new("<think>", "</think>");
            let mut v = s.feed(text);
            v.extend(s.finish());
            v
        };
        for n in 1..text.len() {
            let mut s = TagSplitter::new("<think>", "</think>");
            let mut pieces: Vec<(bool, String)> = Vec::new();
            for chunk in text.as_bytes().chunks(n) {
                pieces.extend(s.feed(std::str::from_utf8(chunk).unwrap()));
            }
            pieces.extend(s.finish());
            let join = |thinking: bool, v: &[(bool, String)]| -> String {
                v.iter()
                    .filter(|(t, _)| *t == thinking)
                    .map(|(_, s)| s.as_str())
                    .collect()
            };
            assert_eq!(join(true, &pieces), join(true, &whole), "cut {n}");
            assert_eq!(join(false, &pieces), join(false, &whole), "cut {n}");
        }
        assert_eq!(whole[0], (true, "\nhmm, <b>bold</b>\n".to_owned()));
    }

    #[test]
    fn other_tags_and_empty_tags() {
        let mut s = TagSplitter::new("<reasoning>", "</reasoning>");
        let mut v = s.feed("<reasoning>a<think>b</reas");
        v.extend(s.feed("oning>c"));
        v.extend(s.finish());
        assert_eq!(v, [(true, "a<think>b".to_owned()), (false, "c".to_owned())]);
        let mut s = TagSplitter::new("", "");
        assert_eq!(s.feed("<think>x"), [(false, "<think>x".to_owned())]);
        assert_eq!(s.finish(), None);
    }
}
