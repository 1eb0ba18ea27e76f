//! An agent on TestModel calls every tool of server-everything through the toolset.
//!
//! TestModel calls every tool at once with arguments generated from its schema; a few
//! of the reference server's tools reject those (`resourceId: 0`, a URL that is not
//! one): their errors go back to the model as retry prompts, TestModel repeats the same
//! arguments, and the run ends when their retries are used up. So the run may fail only
//! with "exceeded max retries", and only for tools that got retry prompts; every tool
//! must have been called.

use std::collections::BTreeSet;

use verity::messages::ToolOutcome;
use verity::prelude::*;
use verity::{MessageCapture, ModelRequestPart};

use crate::everything::stdio_builder;

#[tokio::test]
async fn test_model_agent_calls_every_everything_tool() {
    let Some(builder) = stdio_builder() else {
        return;
    };
    let server = builder.tool_prefix("ev").build();
    let tools = server.list_tools().await.unwrap();
    let agent = Agent::builder(TestModel::new())
        .toolset(server.clone())
        .build();
    let capture = MessageCapture::new();
    let outcome = agent
        .run("call every tool")
        .capture_messages(&capture)
        .await;
    let mut returned = BTreeSet::new();
    let mut retried = BTreeSet::new();
    for m in capture.messages() {
        if let ModelMessage::Request(r) = m {
            for p in &r.parts {
                match p {
                    ModelRequestPart::ToolReturn(r) if r.outcome == ToolOutcome::Success => {
                        returned.insert(r.tool_name.clone());
                    }
                    ModelRequestPart::ToolReturn(r) => {
                        retried.insert(r.tool_name.clone());
                    }
                    ModelRequestPart::RetryPrompt(r) => {
                        if let Some(n) = &r.tool_name {
                            retried.insert(n.clone());
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    for tool in tools.iter().filter(|t| t.visible_to_model()) {
        let name = format!("ev_{}", tool.name);
        assert!(
            returned.contains(&name) || retried.contains(&name),
            "{name} was not called: returned {returned:?}, retried {retried:?}"
        );
    }
    assert!(returned.contains("ev_echo") && returned.contains("ev_get-tiny-image"));
    if let Err(e) = outcome {
        let message = e.to_string();
        assert!(
            message.contains("exceeded max retries")
                && retried.iter().any(|n| message.contains(n.as_str())),
            "{message}"
        );
    }
    server.close().await;
}
