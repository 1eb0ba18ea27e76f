//! Server-sent events: a small decoder with size limits, and a stream over an HTTP body.

use std::time::Duration;

use futures::{Stream, StreamExt};

use crate::error::{Error, Result};

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field, when there is one.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The `id:` field, when there is one.
    pub id: Option<String>,
}

/// Why a byte stream is not valid SSE.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    /// A line was not UTF-8.
    #[error("invalid UTF-8 in event stream")]
    InvalidUtf8,
    /// A line or an event was larger than the limit.
    #[error("event stream line or event larger than {0} bytes")]
    TooLarge(usize),
}

/// Incremental SSE decoder: feed it bytes as they arrive, get complete events back.
#[derive(Debug)]
pub struct SseDecoder {
    buf: Vec<u8>,
    pending: SseEvent,
    has_data: bool,
    max_bytes: usize,
}

impl Default for SseDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_EVENT_BYTES)
    }
}

/// The default limit on a line or an event: 16 MiB.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

impl SseDecoder {
    /// A decoder refusing lines and events longer than `max_bytes`.
    pub fn new(max_bytes: usize) -> Self {
        SseDecoder {
            buf: Vec::new(),
            pending: SseEvent::default(),
            has_data: false,
            max_bytes,
        }
    }

    /// Decode more bytes; returns the events they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, SseError> {
        self.buf.extend_from_slice(bytes);
        let mut events = Vec::new();
        let mut start = 0;
        let mut i = 0;
        while i < self.buf.len() {
            let b = self.buf.get(i).copied().unwrap_or(b'\n');
            if b == b'\n' || b == b'\r' {
                let end = i;
                if b == b'\r' {
                    match self.buf.get(i + 1) {
                        Some(b'\n') => i += 1,
                        Some(_) => {}
                        // a lone CR at the end: wait to see whether LF follows
                        None => break,
                    }
                }
                let line = self.buf.get(start..end).unwrap_or_default().to_vec();
                self.line(&line, &mut events)?;
                start = i + 1;
            }
            i += 1;
        }
        self.buf.drain(..start.min(self.buf.len()));
        if self.buf.len() > self.max_bytes {
            return Err(SseError::TooLarge(self.max_bytes));
        }
        Ok(events)
    }

    /// The stream ended: an event still pending (no blank line after it) is returned.
    pub fn finish(&mut self) -> Result<Option<SseEvent>, SseError> {
        let rest = std::mem::take(&mut self.buf);
        let mut events = Vec::new();
        if !rest.is_empty() {
            let line = rest.strip_suffix(b"\r").unwrap_or(&rest);
            self.line(line, &mut events)?;
        }
        if let Some(e) = events.pop() {
            return Ok(Some(e));
        }
        Ok(self.dispatch())
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = std::mem::take(&mut self.pending);
        let had = std::mem::replace(&mut self.has_data, false);
        (had || event.event.is_some()).then_some(event)
    }

    fn line(&mut self, line: &[u8], events: &mut Vec<SseEvent>) -> Result<(), SseError> {
        if line.is_empty() {
            if let Some(e) = self.dispatch() {
                events.push(e);
            }
            return Ok(());
        }
        if line.first() == Some(&b':') {
            return Ok(());
        }
        let line = std::str::from_utf8(line).map_err(|_| SseError::InvalidUtf8)?;
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.pending.data.push('\n');
                }
                self.pending.data.push_str(value);
                self.has_data = true;
                if self.pending.data.len() > self.max_bytes {
                    return Err(SseError::TooLarge(self.max_bytes));
                }
            }
            "event" => self.pending.event = Some(value.to_owned()),
            "id" => self.pending.id = Some(value.to_owned()),
            _ => {}
        }
        Ok(())
    }
}

/// The events of an HTTP response body. A read that takes longer than `idle_timeout`
/// ends the stream with an error, as do transport errors and invalid SSE.
pub fn sse_stream(
    response: reqwest::Response,
    model_name: String,
    idle_timeout: Option<Duration>,
) -> impl Stream<Item = Result<SseEvent>> + Send {
    let mut body = response.bytes_stream();
    async_stream::try_stream! {
        let mut decoder = SseDecoder::default();
        loop {
            let next = match idle_timeout {
                Some(t) => tokio::time::timeout(t, body.next()).await.map_err(|_| Error::ModelApi {
                    model_name: model_name.clone(),
                    message: format!("no data from the event stream for {t:?}"),
                })?,
                None => body.next().await,
            };
            match next {
                Some(chunk) => {
                    let chunk = chunk.map_err(|e| super::transport_error(&model_name, e))?;
                    let events = decoder.feed(&chunk).map_err(|e| Error::ModelApi {
                        model_name: model_name.clone(),
                        message: e.to_string(),
                    })?;
                    for e in events {
                        yield e;
                    }
                }
                None => {
                    let last = decoder.finish().map_err(|e| Error::ModelApi {
                        model_name: model_name.clone(),
                        message: e.to_string(),
                    })?;
                    if let Some(e) = last {
                        yield e;
                    }
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn decode_in_pieces(input: &[u8], piece: usize) -> Vec<SseEvent> {
        let mut d = SseDecoder::default();
        let mut out = Vec::new();
        for chunk in input.chunks(piece) {
            out.extend(d.feed(chunk).unwrap());
        }
        out.extend(d.finish().unwrap());
        out
    }

    #[test]
    fn decodes_any_split_and_line_ending() {
        let input = b": comment\r\n\r\nevent: error\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\ndata: [DONE]\n\ndata: x\rdata: y\r\r";
        for piece in 1..input.len() {
            let events = decode_in_pieces(input, piece);
            assert_eq!(events.len(), 3, "piece {piece}: {events:?}");
            assert_eq!(events[0].event.as_deref(), Some("error"));
            assert_eq!(events[0].data, "{\"a\":\n1}");
            assert_eq!(events[1].data, "[DONE]");
            assert_eq!(events[2].data, "x\ny");
        }
    }

    #[test]
    fn trailing_event_without_blank_line_is_kept() {
        assert_eq!(decode_in_pieces(b"data: last", 3)[0].data, "last");
    }

    #[test]
    fn limits_and_invalid_utf8_are_errors() {
        let mut d = SseDecoder::new(8);
        assert_eq!(d.feed(b"data: 0123456789\n"), Err(SseError::TooLarge(8)));
        let mut d = SseDecoder::new(8);
        assert_eq!(d.feed(b"data: 0123456789"), Err(SseError::TooLarge(8)));
        let mut d = SseDecoder::default();
        assert_eq!(d.feed(b"data: \xff\xfe\n\n"), Err(SseError::InvalidUtf8));
    }
}
