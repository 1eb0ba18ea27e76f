//! Server-sent events as an axum response.

use std::convert::Infallible;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};

/// An HTTP response: an SSE stream, or an error (a status and a JSON body).
pub type SseResponse = Response;

/// SSE events (each already `data: …\n\n`) as a `text/event-stream` response with these
/// extra headers.
pub fn response(
    events: impl Stream<Item = String> + Send + 'static,
    headers: &[(&'static str, &'static str)],
) -> Response {
    let body = Body::from_stream(events.map(|e| Ok::<_, Infallible>(bytes::Bytes::from(e))));
    let mut response = (StatusCode::OK, body).into_response();
    let map = response.headers_mut();
    map.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    map.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    map.insert("x-accel-buffering", HeaderValue::from_static("no"));
    for (name, value) in headers {
        map.insert(*name, HeaderValue::from_static(value));
    }
    response
}
