use crate::run_example;

#[tokio::test]
async fn the_streamed_answer_is_printed_rendered() {
    let run = run_example(env!("CARGO_BIN_EXE_stream_markdown"), &[], &[]).await;
    let out = &run.stdout;
    // rendered, not raw: no Markdown markers left
    assert!(out.contains("Serde in a nutshell"), "{out}");
    assert!(!out.contains("## "), "{out}");
    assert!(!out.contains("**"), "{out}");
    assert!(!out.contains("```"), "{out}");
    assert!(
        out.contains("Serde turns Rust values into formats such as JSON"),
        "{out}"
    );
    assert!(out.contains("struct Point { x: i32, y: i32 }"), "{out}");
    assert!(out.contains("That is all it takes."), "{out}");
    // printed once, at the end (stdout is not a terminal)
    assert_eq!(out.matches("Serde in a nutshell").count(), 1, "{out}");
}
