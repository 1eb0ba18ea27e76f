//! `mcpServers` configuration and `${ENV}` expansion.

use serde_json::json;
use verity_mcp::{McpConfig, McpError, expand_env_vars};

#[test]
fn env_vars_expand_with_defaults_and_fail_when_unset() {
    // SAFETY-free: a variable only this test uses
    let home = std::env::var("HOME").unwrap();
    let v = expand_env_vars(json!({"a": "${HOME}/x", "b": ["${VERITY_MCP_UNSET_VAR:-fallback}", 3], "c": "$HOME ${ not a ref"}))
        .unwrap();
    assert_eq!(
        v,
        json!({"a": format!("{home}/x"), "b": ["fallback", 3], "c": "$HOME ${ not a ref"})
    );
    let err = expand_env_vars(json!("${VERITY_MCP_UNSET_VAR}")).unwrap_err();
    assert!(matches!(err, McpError::Config(m) if m.contains("VERITY_MCP_UNSET_VAR")));
}

#[test]
fn mcp_servers_config_loads() {
    let config = McpConfig::from_json(
        r#"{"mcpServers": {
            "fs": {"command": "npx", "args": ["-y", "server"], "env": {"HOME_DIR": "${HOME}"}, "type": "stdio"},
            "web": {"url": "http://localhost:1/mcp", "headers": {"Authorization": "Bearer ${VERITY_MCP_UNSET_VAR:-t}"}}
        }}"#,
    )
    .unwrap();
    assert_eq!(config.servers["fs"].command.as_deref(), Some("npx"));
    assert_eq!(
        config.servers["web"].headers.as_ref().unwrap()["Authorization"],
        "Bearer t"
    );
    let servers = config.into_servers().unwrap();
    let ids: Vec<&str> = servers.iter().map(|s| s.id()).collect();
    assert_eq!(ids, ["fs", "web"]);

    let err = McpConfig::from_json(r#"{"mcpServers": {"x": {"args": []}}}"#)
        .unwrap()
        .into_servers()
        .unwrap_err();
    assert!(
        err.to_string().contains("either `command` or `url`"),
        "{err}"
    );
    assert!(McpConfig::from_json("{").is_err());
}
