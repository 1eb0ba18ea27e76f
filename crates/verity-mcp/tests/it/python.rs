//! Against a small Python server (`py_server.py`, on the `mcp` package) over stdio:
//! call timeouts, a crash mid-call (typed error, then a new connection), 20 concurrent
//! calls on one connection, tool errors, env and cwd, the child killed on drop.

use std::time::Duration;

use serde_json::json;
use verity::prelude::*;
use verity::tools::{Rejection, ToolCallError};
use verity::toolsets::Toolset;
use verity_mcp::{McpError, McpServer, McpServerBuilder, ToolErrorBehavior};

use crate::support;

fn builder() -> Option<McpServerBuilder> {
    let python = support::python()?;
    Some(
        McpServer::stdio(
            python.to_string_lossy().into_owned(),
            [support::py_server().to_string_lossy().into_owned()],
        )
        .id("py")
        .inherit_stderr(false),
    )
}

fn alive(pid: i64) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| s.split_whitespace().nth(2) == Some("Z"))
}

#[tokio::test]
async fn python_timeout_then_more_calls() {
    let Some(b) = builder() else { return };
    let server = b.call_timeout(Duration::from_millis(500)).build();
    let err = server
        .call_tool("sleep", json!({"seconds": 5}))
        .await
        .unwrap_err();
    assert!(matches!(err, McpError::Timeout { .. }), "{err}");
    // the connection is still good
    let echo = server
        .call_tool("echo", json!({"text": "still here"}))
        .await
        .unwrap();
    assert_eq!(echo.to_model_value(false), json!("still here"));
    // in a run, a timeout is a retry prompt
    let out =
        Toolset::<()>::call(&server, RunContext::new(()), "sleep", json!({"seconds": 5})).await;
    match out {
        Err(ToolCallError::Rejected(Rejection::Retry(m))) => {
            assert!(m.starts_with("Timed out after 0.5 seconds"), "{m}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn python_crash_mid_call_then_reconnect() {
    let Some(b) = builder() else { return };
    let server = b.build();
    let first_pid = server
        .call_tool("pid", json!({}))
        .await
        .unwrap()
        .to_model_value(false);
    let err = server.call_tool("crash", json!({})).await.unwrap_err();
    assert!(matches!(err, McpError::Closed { .. }), "{err}");
    // in a run the crash is a typed failure
    let out = Toolset::<()>::call(&server, RunContext::new(()), "crash", json!({})).await;
    match out {
        Err(ToolCallError::Failed(e)) => {
            assert!(
                matches!(e.downcast_ref::<McpError>(), Some(McpError::Closed { .. })),
                "{e}"
            )
        }
        other => panic!("{other:?}"),
    }
    // the next call reconnects to a new process
    let second_pid = server
        .call_tool("pid", json!({}))
        .await
        .unwrap()
        .to_model_value(false);
    assert_ne!(first_pid, second_pid);
}

#[tokio::test]
async fn python_twenty_concurrent_calls() {
    let Some(b) = builder() else { return };
    let server = b.build();
    let pid = server
        .call_tool("pid", json!({}))
        .await
        .unwrap()
        .to_model_value(false);
    let calls = (0..20).map(|i| {
        let server = server.clone();
        tokio::spawn(async move {
            server
                .call_tool("echo", json!({"text": format!("call {i}"), "delay": 0.2}))
                .await
                .map(|r| r.to_model_value(false))
        })
    });
    let results = futures::future::join_all(calls).await;
    for (i, r) in results.into_iter().enumerate() {
        assert_eq!(r.unwrap().unwrap(), json!(format!("call {i}")));
    }
    // one connection, one process
    assert_eq!(
        server
            .call_tool("pid", json!({}))
            .await
            .unwrap()
            .to_model_value(false),
        pid
    );
}

#[tokio::test]
async fn python_tool_errors_env_cwd_instructions() {
    let Some(b) = builder() else { return };
    let dir = std::env::temp_dir();
    let server = b.env("VERITY_MCP_TEST", "42").cwd(&dir).build();
    assert_eq!(
        server.instructions().await.unwrap().as_deref(),
        Some("Use `echo` to echo text.")
    );
    let env = server
        .call_tool("env", json!({"name": "VERITY_MCP_TEST"}))
        .await
        .unwrap();
    assert_eq!(env.to_model_value(false), json!("42"));

    // the tool list is cached (this server never changes it)
    let tools = server.list_tools().await.unwrap();
    assert!(std::sync::Arc::ptr_eq(
        &tools,
        &server.list_tools().await.unwrap()
    ));

    let failed = server
        .call_tool("fail", json!({"message": "boom"}))
        .await
        .unwrap();
    assert!(failed.is_error);
    assert!(failed.error_message("fail").contains("boom"));
    let out = Toolset::<()>::call(
        &server,
        RunContext::new(()),
        "fail",
        json!({"message": "boom"}),
    )
    .await;
    match out {
        Err(ToolCallError::Rejected(Rejection::Retry(m))) => assert!(m.contains("boom"), "{m}"),
        other => panic!("{other:?}"),
    }

    let strict = builder()
        .unwrap()
        .tool_error_behavior(ToolErrorBehavior::Fail)
        .build();
    let out = Toolset::<()>::call(
        &strict,
        RunContext::new(()),
        "fail",
        json!({"message": "boom"}),
    )
    .await;
    assert!(matches!(out, Err(ToolCallError::Failed(_))), "{out:?}");
}

#[tokio::test]
async fn python_child_killed_when_dropped() {
    let Some(b) = builder() else { return };
    let server = b.build();
    let pid = server
        .call_tool("pid", json!({}))
        .await
        .unwrap()
        .to_model_value(false)
        .as_i64()
        .unwrap();
    assert!(alive(pid));
    drop(server);
    let mut gone = false;
    for _ in 0..50 {
        if !alive(pid) {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "the server's process {pid} outlived its McpServer");
}

#[tokio::test]
async fn python_connect_errors_are_typed() {
    let err = McpServer::stdio("/nonexistent/verity-mcp-server", Vec::<String>::new())
        .build()
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(err, McpError::Spawn { .. }), "{err}");
    let Some(python) = support::python() else {
        return;
    };
    // a process that never answers `initialize`
    let err = McpServer::stdio(
        python.to_string_lossy().into_owned(),
        ["-c", "import time; time.sleep(30)"],
    )
    .connect_timeout(Duration::from_millis(500))
    .build()
    .connect()
    .await
    .unwrap_err();
    assert!(matches!(err, McpError::ConnectTimeout { .. }), "{err}");
}
