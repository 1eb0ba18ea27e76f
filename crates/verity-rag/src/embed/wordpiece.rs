//! BERT's uncased WordPiece tokenizer (what all-MiniLM-L6-v2's `tokenizer.json` says:
//! `BertNormalizer` with lowercasing and accent stripping, `BertPreTokenizer`, WordPiece
//! with `##` continuations and `[UNK]` for words over 100 characters), from `vocab.txt`.
//! Written here (about a hundred lines) rather than through the `tokenizers` crate's
//! API, which candle 0.11 already compiles: this needs nothing but `vocab.txt`, and the
//! crate's public API does not move with `tokenizers`' releases. The recall test checks
//! it end to end.

use std::collections::HashMap;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// A WordPiece vocabulary and its special tokens.
#[derive(Debug, Clone)]
pub(crate) struct WordPiece {
    vocab: HashMap<String, u32>,
    unk: u32,
    cls: u32,
    sep: u32,
}

const MAX_WORD_CHARS: usize = 100;

impl WordPiece {
    /// From the lines of `vocab.txt` (a token's id is its line number).
    pub(crate) fn from_vocab(text: &str) -> Result<Self, String> {
        let vocab: HashMap<String, u32> = text
            .lines()
            .enumerate()
            .filter_map(|(i, t)| u32::try_from(i).ok().map(|i| (t.to_owned(), i)))
            .collect();
        let id = |t: &str| {
            vocab
                .get(t)
                .copied()
                .ok_or_else(|| format!("vocab.txt has no {t} token"))
        };
        Ok(WordPiece {
            unk: id("[UNK]")?,
            cls: id("[CLS]")?,
            sep: id("[SEP]")?,
            vocab,
        })
    }

    /// `[CLS] tokens [SEP]`, at most `max_len` ids in all (longer texts are cut).
    pub(crate) fn encode(&self, text: &str, max_len: usize) -> Vec<u32> {
        let mut ids = vec![self.cls];
        let budget = max_len.saturating_sub(2);
        'words: for word in pre_tokenize(&normalize(text)) {
            for id in self.word_ids(&word) {
                if ids.len() > budget {
                    break 'words;
                }
                ids.push(id);
            }
        }
        ids.push(self.sep);
        ids
    }

    /// Greedy longest-match-first WordPiece of one word.
    fn word_ids(&self, word: &str) -> Vec<u32> {
        let chars: Vec<char> = word.chars().collect();
        if chars.len() > MAX_WORD_CHARS {
            return vec![self.unk];
        }
        let mut out = Vec::new();
        let mut start = 0;
        while start < chars.len() {
            let mut end = chars.len();
            let mut found = None;
            while start < end {
                let piece: String = chars.get(start..end).unwrap_or_default().iter().collect();
                let piece = if start > 0 {
                    format!("##{piece}")
                } else {
                    piece
                };
                if let Some(id) = self.vocab.get(&piece) {
                    found = Some(*id);
                    break;
                }
                end -= 1;
            }
            match found {
                Some(id) => {
                    out.push(id);
                    start = end;
                }
                None => return vec![self.unk],
            }
        }
        out
    }
}

fn is_control(c: char) -> bool {
    if c == '\t' || c == '\n' || c == '\r' {
        return false;
    }
    c.is_control()
}

fn is_chinese(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F | 0x2B820..=0x2CEAF | 0xF900..=0xFAFF | 0x2F800..=0x2FA1F)
}

fn is_punctuation(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_punctuation();
    }
    // Unicode punctuation, roughly (the general categories P*): neither a letter, a
    // digit, a space nor a mark
    !c.is_alphanumeric() && !c.is_whitespace() && !is_combining_mark(c) && !c.is_control()
}

/// BertNormalizer: clean (drop NUL, U+FFFD and controls; whitespace to spaces), space
/// out CJK characters, lowercase, strip accents.
fn normalize(text: &str) -> String {
    let mut cleaned = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\0' || c == '\u{fffd}' || is_control(c) {
            continue;
        }
        if c.is_whitespace() {
            cleaned.push(' ');
        } else if is_chinese(c) {
            cleaned.push(' ');
            cleaned.push(c);
            cleaned.push(' ');
        } else {
            cleaned.push(c);
        }
    }
    cleaned
        .to_lowercase()
        .nfd()
        .filter(|c| !is_combining_mark(*c))
        .collect()
}

/// BertPreTokenizer: split on whitespace, each punctuation character a word of its own.
fn pre_tokenize(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for word in text.split_whitespace() {
        let mut current = String::new();
        for c in word.chars() {
            if is_punctuation(c) {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
                out.push(c.to_string());
            } else {
                current.push(c);
            }
        }
        if !current.is_empty() {
            out.push(current);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn splits_punctuation_and_pieces() {
        assert_eq!(
            pre_tokenize("Héllo, wörld!"),
            vec!["Héllo", ",", "wörld", "!"]
        );
        assert_eq!(normalize("Héllo\tWÖRLD"), "hello world");
        let wp = WordPiece::from_vocab("[PAD]\n[UNK]\n[CLS]\n[SEP]\nplay\n##ing\nthe").unwrap();
        assert_eq!(wp.encode("Playing the xyz", 16), vec![2, 4, 5, 6, 1, 3]);
        assert_eq!(wp.encode("the the the the", 4), vec![2, 6, 6, 3]);
    }
}
