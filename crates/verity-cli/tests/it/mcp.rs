//! `--mcp-stdio`, `--mcp-config`, `--mcp-http` against a small Python MCP server (the
//! `mcp` package in the venv verity-mcp's `tests/install-servers.sh` makes).

use std::path::PathBuf;

use crate::{home, verity};

fn python() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    let python = base.join("verity/mcp-venv-2.3.0/bin/python");
    if python.exists() {
        return Some(python);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "{} is needed (crates/verity-mcp/tests/install-servers.sh)",
            python.display()
        );
    }
    eprintln!(
        "NOTICE: CLI MCP tests SKIPPED: {} is missing",
        python.display()
    );
    None
}

fn server_script() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/mcp_server.py").to_owned()
}

#[test]
fn mcp_stdio_tools_reach_the_model() {
    let Some(python) = python() else { return };
    let h = home();
    let out = verity(&h)
        .args(["-m", "test", "--mcp-stdio"])
        .arg(format!("'{}' '{}'", python.display(), server_script()))
        .arg("add")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("→ calling tool add"), "{stderr}");
    // TestModel calls add(0, 0) and answers with the tools' results
    assert!(stdout.contains("add") && stdout.contains("42"), "{stdout}");
}

#[test]
fn mcp_config_prefixes_tools_with_the_server_name() {
    let Some(python) = python() else { return };
    let h = home();
    let config = h.path().join("mcp.json");
    let json = serde_json::json!({
        "mcpServers": {"calc": {"command": python, "args": [server_script()]}}
    });
    std::fs::write(&config, json.to_string()).unwrap();
    let out = verity(&h)
        .args(["-m", "test", "--mcp-config"])
        .arg(&config)
        .arg("add")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("→ calling tool calc_add"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("42"));
}

#[test]
fn mcp_errors_are_one_line() {
    let h = home();
    let out = verity(&h)
        .args(["-m", "test", "--mcp-http", "http://127.0.0.1:9/mcp", "hi"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    let out = verity(&h)
        .args(["-m", "test", "--mcp-config", "/no/such/mcp.json", "hi"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
