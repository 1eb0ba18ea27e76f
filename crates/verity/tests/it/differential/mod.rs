//! Differential tests against PydanticAI: the scenarios of `scenarios.json` are played by
//! PydanticAI itself (`pydantic-ai-slim` at `PYDANTIC_AI_VERSION`, in a cached virtual
//! environment, one Python process for all scenarios: `pyai_runner.py`) and by Verity
//! (`verity_side.rs`), both with a FunctionModel replaying the scripted responses. The
//! outcome, the normalized message history, the request flow (tools offered, tools run)
//! and the text rendered for every retry are compared; `compare.rs` says what is dropped
//! before comparing and why.
//!
//! A scenario that diverges must be listed in `KNOWN_DIVERGENCES`, and a listed one must
//! still diverge: the list is the to-do list of issue #14 and stays true.
//!
//! `cargo test -p verity --all-features --test it differential -- --nocapture` prints the
//! diff of every scenario. Without Python 3 (with venv) or PyPI the test prints a notice
//! and passes, except in CI (`CI=true`), where it fails.

mod compare;
mod verity_side;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use compare::{DROPPED_FIELDS, diff, normalize};
use verity_side::{Scenario, run_scenario};

const PYDANTIC_AI_VERSION: &str = "2.68.0";

/// Where Verity differs from PydanticAI on purpose: `(what, why)`. The comparison
/// already accounts for each.
pub const DELIBERATE_DIFFERENCES: &[(&str, &str)] = &[
    (
        "error type: a Rust `verity::Error` variant instead of a Python exception class",
        "one typed error enum; compare.rs maps the equivalent pairs (ERROR_TYPE_EQUIVALENTS) to one name",
    ),
    (
        "error message: Verity's Display adds a prefix (`unexpected model behavior: `, `usage limit exceeded: `, `tool `x` failed: `)",
        "the Rust convention of saying which error it is; the message inside the variant is what is compared",
    ),
    (
        "a tool's own error: PydanticAI re-raises the tool's exception (RuntimeError), Verity ends the run with `Error::ToolExecution { tool_name, source }`",
        "Rust has no exception to let through; the source's message is compared",
    ),
    (
        "a failed awaited run: PydanticAI's history comes from `capture_run_messages()`, Verity's from replaying the same script node by node (`.iter()`)",
        "Verity's awaited run returns only the error; the replay is asserted to fail the same way",
    ),
];

/// Scenario name → what differs today. Empty: every scenario behaves as in PydanticAI.
/// A divergence found later is listed here with what differs, and removed once fixed
/// (the test fails when a listed scenario no longer diverges).
pub const KNOWN_DIVERGENCES: &[(&str, &str)] = &[];

fn cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("verity")
        .join(format!("pydantic-ai-{PYDANTIC_AI_VERSION}"))
}

fn venv_ok(python: &Path) -> bool {
    Command::new(python)
        .args([
            "-c",
            &format!(
                "import importlib.metadata as m, pydantic_ai; assert m.version('pydantic-ai-slim') == '{PYDANTIC_AI_VERSION}'"
            ),
        ])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn run_checked(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("{what}: could not start: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The Python of a virtual environment holding PydanticAI, created once (per machine,
/// in the cache; once per test process through the `OnceLock`). A new environment is
/// built beside the final place and renamed into it, so concurrent test processes never
/// see half an environment.
fn python() -> &'static Result<PathBuf, String> {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let dir = cache_dir();
        let venv = dir.join("venv");
        let python = venv.join("bin").join("python");
        if venv_ok(&python) {
            return Ok(python);
        }
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create the cache folder: {e}"))?;
        let tmp = dir.join(format!("venv.tmp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let system_python = ["python3", "python"]
            .into_iter()
            .find(|p| {
                Command::new(p)
                    .args(["-c", "import venv, ensurepip"])
                    .output()
                    .is_ok_and(|o| o.status.success())
            })
            .ok_or(
                "no Python 3 with the venv module (e.g. apt-get install python3 python3-venv)",
            )?;
        run_checked(
            Command::new(system_python).args(["-m", "venv"]).arg(&tmp),
            "python3 -m venv",
        )?;
        run_checked(
            Command::new(tmp.join("bin").join("python")).args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                &format!("pydantic-ai-slim=={PYDANTIC_AI_VERSION}"),
            ]),
            "pip install pydantic-ai-slim",
        )?;
        if std::fs::rename(&tmp, &venv).is_err() {
            // another process got there first, or a broken environment is in the way
            if !venv_ok(&python) {
                let _ = std::fs::remove_dir_all(&venv);
                std::fs::rename(&tmp, &venv)
                    .map_err(|e| format!("cannot move the environment into place: {e}"))?;
            }
            let _ = std::fs::remove_dir_all(&tmp);
        }
        if venv_ok(&python) {
            Ok(python)
        } else {
            Err("the new environment does not import pydantic_ai".into())
        }
    })
}

fn here() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/differential")
}

/// All scenarios with PydanticAI, in one Python process.
fn run_pydantic_ai(python: &Path, scenarios: &Path) -> Value {
    let out = Command::new(python)
        .args(["-W", "ignore"])
        .arg(here().join("pyai_runner.py"))
        .arg(scenarios)
        .output()
        .expect("start the PydanticAI runner");
    assert!(
        out.status.success(),
        "the PydanticAI runner failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the runner prints JSON")
}

#[tokio::test]
async fn differential_against_pydantic_ai() {
    let python = match python() {
        Ok(p) => p,
        Err(why) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("differential tests need PydanticAI {PYDANTIC_AI_VERSION}: {why}");
            }
            eprintln!(
                "\n**********\nNOTICE: differential tests against PydanticAI SKIPPED: {why}\n**********\n"
            );
            return;
        }
    };
    let scenarios_path = here().join("scenarios.json");
    let scenarios: Vec<Scenario> =
        serde_json::from_str(&std::fs::read_to_string(&scenarios_path).unwrap()).unwrap();
    let pyai = run_pydantic_ai(python, &scenarios_path);

    for (name, _) in KNOWN_DIVERGENCES {
        assert!(
            scenarios.iter().any(|s| s.name == *name),
            "KNOWN_DIVERGENCES names `{name}`, which is no scenario"
        );
    }

    let mut unexpected = Vec::new();
    let mut fixed = Vec::new();
    let mut diverging = 0;
    for sc in &scenarios {
        let py = pyai
            .get(&sc.name)
            .unwrap_or_else(|| panic!("no PydanticAI result for {}", sc.name));
        if let Some(err) = py.get("harness_error") {
            panic!("{}: the PydanticAI runner failed: {err}", sc.name);
        }
        let rs = run_scenario(sc).await;
        let mut lines = Vec::new();
        if let Some(why) = rs.get("unsupported") {
            lines.push(format!("verity cannot express this scenario: {why}"));
        } else {
            diff("", &normalize(py), &normalize(&rs), &mut lines);
        }
        let known = KNOWN_DIVERGENCES.iter().find(|(n, _)| *n == sc.name);
        match (lines.is_empty(), known) {
            (true, None) => println!("differential {}: same", sc.name),
            (true, Some(_)) => {
                println!(
                    "differential {}: same (but listed in KNOWN_DIVERGENCES)",
                    sc.name
                );
                fixed.push(sc.name.clone());
            }
            (false, known) => {
                diverging += 1;
                println!(
                    "differential {}: DIVERGES{}",
                    sc.name,
                    known.map_or(String::new(), |(_, why)| format!(" (known: {why})"))
                );
                for line in &lines {
                    println!("    {line}");
                }
                if known.is_none() {
                    unexpected.push(sc.name.clone());
                }
            }
        }
    }
    for (what, why) in DELIBERATE_DIFFERENCES {
        println!("differential: deliberate difference: {what} ({why})");
    }
    println!(
        "differential: {} scenarios, {diverging} diverging ({} known); {} fields dropped before comparing (compare::DROPPED_FIELDS)",
        scenarios.len(),
        KNOWN_DIVERGENCES.len(),
        DROPPED_FIELDS.len()
    );
    assert!(
        unexpected.is_empty(),
        "scenarios diverging from PydanticAI and not in KNOWN_DIVERGENCES (run with --nocapture for the diffs): {unexpected:?}"
    );
    assert!(
        fixed.is_empty(),
        "scenarios in KNOWN_DIVERGENCES that no longer diverge (remove them from the list): {fixed:?}"
    );
}
