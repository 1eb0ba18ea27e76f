//! The official MCP conformance runner (`@modelcontextprotocol/conformance`) against
//! Verity's server (`examples/conformance_server.rs`) and client
//! (`examples/conformance_client.rs`), with the expected failures of
//! `conformance-baseline.yml`: a scenario failing outside the baseline fails the test, and
//! so does one in the baseline that starts passing.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::support;

const SPEC_VERSION: &str = "2025-11-25";

fn baseline() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance-baseline.yml")
}

/// Runs the runner with `args`: whether it succeeded, and its output.
fn run_runner(node: &Path, runner: &Path, args: &[&str]) -> (bool, String) {
    let out_dir = std::env::temp_dir().join(format!(
        "verity-mcp-conformance-{}-{}",
        args.join("-")
            .replace(['/', ' ', ':'], "_")
            .chars()
            .take(60)
            .collect::<String>(),
        std::process::id()
    ));
    let out = Command::new(node)
        .arg(runner)
        .args(args)
        .args(["--spec-version", SPEC_VERSION, "--expected-failures"])
        .arg(baseline())
        .arg("-o")
        .arg(&out_dir)
        .current_dir(std::env::temp_dir())
        .env("NO_COLOR", "1")
        .output()
        .expect("the conformance runner starts");
    let _ = std::fs::remove_dir_all(&out_dir);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Like [`run_runner`], and fails the test when the runner does.
fn run_runner_ok(node: &Path, runner: &Path, args: &[&str]) -> String {
    let (ok, text) = run_runner(node, runner, args);
    assert!(ok, "conformance runner failed:\n{text}");
    text
}

/// The runner's `Total: N passed, M failed` line.
fn total(output: &str) -> &str {
    output
        .lines()
        .rev()
        .find(|l| l.starts_with("Total:"))
        .unwrap_or("(no total line)")
}

struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn verity_server_passes_the_conformance_runner() {
    let Some((node, runner)) = support::conformance_runner() else {
        return;
    };
    let mut child = Command::new(support::example("conformance_server"))
        .arg("127.0.0.1:0")
        .stdout(Stdio::piped())
        .spawn()
        .expect("the conformance server starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let server = Server(child);
    let mut url = String::new();
    BufReader::new(stdout)
        .read_line(&mut url)
        .expect("the server prints its URL");
    let url = url.trim();
    assert!(
        url.starts_with("http://127.0.0.1:"),
        "unexpected first line {url:?}"
    );
    let output = run_runner_ok(&node, &runner, &["server", "--url", url]);
    drop(server);
    println!(
        "mcp-conformance server ({SPEC_VERSION}): {}",
        total(&output)
    );
    assert!(output.contains("✓ tools-call-simple-text"), "{output}");
    assert!(output.contains("✓ tools-call-mixed-content"), "{output}");
}

#[test]
fn verity_client_passes_the_conformance_runner() {
    let Some((node, runner)) = support::conformance_runner() else {
        return;
    };
    let client = support::example("conformance_client");
    let client = client.to_str().expect("a UTF-8 path");
    // One at a time: `sse-retry` times the client's reconnection (500 ms, 200 ms late
    // at most), which a loaded 2-core machine can miss; a timing miss is retried.
    let mut passed = 0;
    for scenario in [
        "initialize",
        "tools_call",
        "elicitation-sep1034-client-defaults",
        "sse-retry",
    ] {
        let args = ["client", "--command", client, "--scenario", scenario];
        let mut attempt = run_runner(&node, &runner, &args);
        for _ in 0..2 {
            if attempt.0 || scenario != "sse-retry" {
                break;
            }
            attempt = run_runner(&node, &runner, &args);
        }
        let (ok, output) = attempt;
        assert!(ok, "conformance runner failed on {scenario}:\n{output}");
        if output.contains("OVERALL: PASSED") {
            passed += 1;
        }
        println!(
            "mcp-conformance client {scenario}: {}",
            passed_line(&output)
        );
    }
    let auth = run_runner_ok(
        &node,
        &runner,
        &["client", "--command", client, "--suite", "auth"],
    );
    println!("mcp-conformance client auth suite: {}", total(&auth));
    println!("mcp-conformance client ({SPEC_VERSION}): {passed} of 4 core scenarios pass");
    assert!(
        passed >= 3,
        "tools_call, elicitation defaults and sse-retry pass"
    );
}

/// The runner's `Passed: N/M` line of a single scenario.
fn passed_line(output: &str) -> &str {
    output
        .lines()
        .find(|l| l.starts_with("Passed:"))
        .unwrap_or("(no result line)")
}
