use predicates::prelude::*;
use serde_json::Value;

use crate::{home, stdout_of, verity};

#[test]
fn version_and_completions() {
    let h = home();
    let v = stdout_of(verity(&h).arg("--version"));
    assert_eq!(v.trim(), format!("verity {}", env!("CARGO_PKG_VERSION")));
    for shell in ["bash", "zsh", "fish"] {
        let script = stdout_of(verity(&h).args(["completions", shell]));
        assert!(script.contains("verity"), "{shell}: {script}");
    }
}

#[test]
fn one_shot_on_the_test_model_is_plain_text_when_piped() {
    let h = home();
    let out = stdout_of(verity(&h).args(["-m", "test", "Hello"]));
    assert_eq!(out, "success (no tool calls)\n");
    // streamed, and no ANSI codes in a pipe
    let out = stdout_of(verity(&h).args(["-m", "echo", "**bold** and `code`"]));
    assert_eq!(out, "turn 1: you said: **bold** and `code`\n");
    assert!(!out.contains('\x1b'));
}

#[test]
fn prompt_from_stdin() {
    let h = home();
    let out = stdout_of(verity(&h).args(["-m", "echo"]).write_stdin("from a pipe\n"));
    assert_eq!(out, "turn 1: you said: from a pipe\n");
    let out = stdout_of(verity(&h).args(["-m", "echo", "-"]).write_stdin("dash"));
    assert_eq!(out, "turn 1: you said: dash\n");
}

#[test]
fn model_from_the_environment() {
    let h = home();
    let out = stdout_of(verity(&h).env("VERITY_MODEL", "echo").arg("hi"));
    assert_eq!(out, "turn 1: you said: hi\n");
}

#[test]
fn unknown_model_is_one_line_with_a_suggestion_and_exit_2() {
    let h = home();
    let out = verity(&h)
        .args(["-m", "opnai:gpt-4o", "hi"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("verity: unknown model provider 'opnai'"),
        "{err}"
    );
    assert!(err.contains("did you mean 'openai'"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn missing_key_names_the_variable() {
    let h = home();
    verity(&h)
        .args(["-m", "anthropic:claude-sonnet-4-5", "hi"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("ANTHROPIC_API_KEY"))
        .stderr(predicate::str::contains("panicked").not());
}

#[test]
fn network_failure_is_one_line_and_exit_1() {
    let h = home();
    // nothing listens on port 9 of localhost
    let out = verity(&h)
        .env("OLLAMA_BASE_URL", "http://127.0.0.1:9/v1")
        .args(["-m", "ollama:llama3.2", "hi"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("verity: "), "{err}");
}

#[test]
fn bad_flags_exit_2() {
    let h = home();
    verity(&h)
        .args(["-m", "test", "--thinking=lots", "hi"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--thinking 'lots'"));
    verity(&h)
        .args(["-m", "test", "--output-schema", "/no/such/file.json", "hi"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot read /no/such/file.json"));
    verity(&h).arg("--no-such-flag").assert().code(2);
}

#[test]
fn settings_flags_are_accepted() {
    let h = home();
    // `--thinking` alone does not swallow the prompt
    let out = stdout_of(verity(&h).args(["-m", "test", "--thinking", "hi"]));
    assert_eq!(out, "success (no tool calls)\n");
    let out = stdout_of(verity(&h).args([
        "-m",
        "test",
        "--thinking=high",
        "--max-tokens",
        "100",
        "--temperature",
        "0.2",
        "--instructions",
        "Be brief.",
        "--no-markdown",
        "hi",
    ]));
    assert_eq!(out, "success (no tool calls)\n");
    let history = h.path().join("h.json");
    stdout_of(
        verity(&h)
            .args(["-m", "test", "-i", "Be brief.", "--history"])
            .arg(&history)
            .arg("hi"),
    );
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&history).unwrap()).unwrap();
    assert_eq!(json[0]["instructions"], "Be brief.");
}

#[test]
fn output_schema_prints_validated_json() {
    let h = home();
    let schema = h.path().join("city.json");
    std::fs::write(
        &schema,
        r#"{"type": "object", "properties": {"city": {"type": "string"}, "population": {"type": "integer"}}, "required": ["city", "population"]}"#,
    )
    .unwrap();
    let out = stdout_of(
        verity(&h)
            .args(["-m", "test", "--output-schema"])
            .arg(&schema)
            .arg("Biggest city?"),
    );
    let value: Value = serde_json::from_str(&out).unwrap();
    assert!(value["city"].is_string(), "{value}");
    assert!(value["population"].is_i64(), "{value}");
}

#[test]
fn list_models_shows_prefixes_and_keys() {
    let h = home();
    let out = stdout_of(
        verity(&h)
            .arg("--list-models")
            .env("GROQ_API_KEY", "gsk-test"),
    );
    assert!(
        out.contains("openai ") && out.contains("set OPENAI_API_KEY"),
        "{out}"
    );
    let groq = out.lines().find(|l| l.starts_with("groq ")).unwrap();
    assert!(groq.ends_with("ready"), "{groq}");
    assert!(out.contains("Default without -m: groq:"), "{out}");
}

#[test]
fn closed_pipe_is_not_an_error() {
    let h = home();
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "'{}' --list-models | head -1",
            env!("CARGO_BIN_EXE_verity")
        ))
        .env("VERITY_HOME", h.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.is_empty(), "{err}");
}

/// With `OTEL_EXPORTER_OTLP_ENDPOINT` set, a one-shot run's spans reach that endpoint
/// over OTLP/HTTP (protobuf): a loopback receiver records what is posted to it.
#[test]
fn one_shot_exports_its_spans_when_an_otlp_endpoint_is_set() {
    use std::io::{Read, Write};
    use std::sync::{Arc, Mutex};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    type Posted = Vec<(String, Vec<u8>)>; // (path, body)
    let received: Arc<Mutex<Posted>> = Arc::default();
    let sink = received.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            // one request per connection is enough for this check: read the head, then
            // the body by its length, answer 200 and close
            let mut buf = Vec::new();
            let mut chunk = [0u8; 8192];
            let (head_end, length) = loop {
                let n = stream.read(&mut chunk).unwrap_or(0);
                if n == 0 {
                    break (None, 0);
                }
                buf.extend_from_slice(&chunk[..n]);
                if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    let length = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    break (Some(end + 4), length);
                }
            };
            let Some(head_end) = head_end else { continue };
            while buf.len() < head_end + length {
                let n = stream.read(&mut chunk).unwrap_or(0);
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
            let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
            sink.lock().unwrap().push((path, buf[head_end..].to_vec()));
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
        }
    });
    let h = home();
    let out = stdout_of(
        verity(&h)
            .env(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("http://127.0.0.1:{port}"),
            )
            .env("OTEL_SERVICE_NAME", "verity-cli-test")
            .args(["-m", "test", "--no-save", "Hello"]),
    );
    assert_eq!(out, "success (no tool calls)\n");
    let received = received.lock().unwrap();
    let traces: Vec<&Vec<u8>> = received
        .iter()
        .filter(|(path, _)| path == "/v1/traces")
        .map(|(_, body)| body)
        .collect();
    assert!(
        !traces.is_empty(),
        "no traces posted: {:?}",
        received.iter().map(|r| &r.0).collect::<Vec<_>>()
    );
    // protobuf keeps strings as they are: the span names and the service name show
    let all: Vec<u8> = traces.into_iter().flatten().copied().collect();
    let text = String::from_utf8_lossy(&all);
    for needle in [
        "invoke_agent",
        "chat test",
        "verity-cli-test",
        "gen_ai.operation.name",
    ] {
        assert!(text.contains(needle), "{needle} not in the exported spans");
    }
}
