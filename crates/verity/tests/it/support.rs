//! A local HTTP/1.1 server for tests: answers each request with the next canned
//! response, records the requests, and can misbehave on purpose.
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How a canned response is delivered.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// The whole response, then close.
    Whole,
    /// Headers announcing the full length, only the first `n` body bytes, then close.
    CutAfter(usize),
    /// Headers, then nothing for this long, then close.
    Stall(Duration),
    /// Close the connection without answering.
    Reset,
    /// Wait this long before answering.
    Delay(Duration),
}

/// A response to send.
#[derive(Debug, Clone)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub delivery: Delivery,
}

impl Canned {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Canned {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
            delivery: Delivery::Whole,
        }
    }
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        Self::new(
            status,
            "application/json",
            serde_json::to_vec(body).unwrap(),
        )
    }
    pub fn sse(body: &str) -> Self {
        Self::new(200, "text/event-stream", body.as_bytes().to_vec())
    }
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    pub fn delivery(mut self, d: Delivery) -> Self {
        self.delivery = d;
        self
    }
}

/// A request the server received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub struct MockServer {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockServer {
    pub async fn start(responses: Vec<Canned>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let queue = Arc::new(Mutex::new(VecDeque::from(responses)));
        let (r, q) = (Arc::clone(&received), Arc::clone(&queue));
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (r, q) = (Arc::clone(&r), Arc::clone(&q));
                tokio::spawn(async move {
                    let _ = serve(stream, r, q).await;
                });
            }
        });
        MockServer {
            addr,
            received,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

async fn read_request(stream: &mut TcpStream) -> std::io::Result<Option<Received>> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    let header_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        let n = stream.read(&mut tmp).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_owned()))
        })
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[header_end..].to_vec();
    while body.len() < len {
        let n = stream.read(&mut tmp).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&tmp[..n]);
    }
    Ok(Some(Received {
        path,
        headers,
        body,
    }))
}

async fn serve(
    mut stream: TcpStream,
    received: Arc<Mutex<Vec<Received>>>,
    queue: Arc<Mutex<VecDeque<Canned>>>,
) -> std::io::Result<()> {
    let Some(request) = read_request(&mut stream).await? else {
        return Ok(());
    };
    received.lock().unwrap().push(request);
    let canned = queue.lock().unwrap().pop_front().unwrap_or_else(|| {
        Canned::json(
            599,
            &serde_json::json!({"error": "the mock server has no more responses"}),
        )
    });
    match canned.delivery {
        Delivery::Reset => return Ok(()),
        Delivery::Delay(d) => tokio::time::sleep(d).await,
        _ => {}
    }
    let mut head = format!("HTTP/1.1 {} Status\r\n", canned.status);
    for (k, v) in &canned.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        canned.body.len()
    ));
    stream.write_all(head.as_bytes()).await?;
    match canned.delivery {
        Delivery::CutAfter(n) => {
            stream
                .write_all(&canned.body[..n.min(canned.body.len())])
                .await?;
            stream.flush().await?;
        }
        Delivery::Stall(d) => {
            stream.flush().await?;
            tokio::time::sleep(d).await;
        }
        _ => {
            stream.write_all(&canned.body).await?;
            stream.flush().await?;
        }
    }
    stream.shutdown().await?;
    Ok(())
}
