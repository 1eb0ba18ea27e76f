//! The chat through a pseudo-terminal.

use std::time::Duration;

use expectrl::{ControlCode, Session};

fn chat(home: &tempfile::TempDir, delay_ms: u64) -> Session {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_verity"));
    cmd.args(["-m", "echo"])
        .env("VERITY_HOME", home.path())
        .env("VERITY_ECHO_DELAY_MS", delay_ms.to_string())
        .env("TERM", "xterm")
        .env_remove("VERITY_MODEL");
    let mut session = Session::spawn(cmd).unwrap();
    session.set_expect_timeout(Some(Duration::from_secs(20)));
    session
}

#[test]
fn two_turns_slash_commands_and_ctrl_d() {
    let h = crate::home();
    let mut p = chat(&h, 0);
    p.expect("/help for commands").unwrap();
    p.expect("> ").unwrap();
    p.send_line("hello").unwrap();
    p.expect("turn 1: you said: hello").unwrap();
    p.expect("> ").unwrap();
    p.send_line("again").unwrap();
    p.expect("turn 2: you said: again").unwrap();
    p.expect("> ").unwrap();
    p.send_line("/usage").unwrap();
    p.expect("2 requests").unwrap();
    p.send_line("/markdown").unwrap();
    p.expect("turn 2: you said: again").unwrap();
    p.send_line("/cp").unwrap();
    p.expect("clipboard").unwrap();
    p.send_line("/nosuch").unwrap();
    p.expect("unknown command /nosuch").unwrap();
    let saved = h.path().join("saved.json");
    p.send_line(format!("/save {}", saved.display())).unwrap();
    p.expect("Saved 4 messages").unwrap();
    p.send_line("/model test").unwrap();
    p.expect("Model: test").unwrap();
    p.send_line("third").unwrap();
    p.expect("success (no tool calls)").unwrap();
    p.expect("> ").unwrap();
    p.send(ControlCode::EndOfTransmission).unwrap();
    p.expect(expectrl::Eof).unwrap();
    assert!(std::fs::read_to_string(&saved).unwrap().starts_with('['));

    // the conversation was saved: -c continues it
    let out = crate::stdout_of(crate::verity(&h).args(["-c", "-m", "echo", "fourth"]));
    assert_eq!(out, "turn 4: you said: fourth\n");
}

#[test]
fn ctrl_c_cancels_the_answer_not_the_session() {
    let h = crate::home();
    let mut p = chat(&h, 300);
    p.expect("> ").unwrap();
    p.send_line("one two three four five six seven eight nine ten")
        .unwrap();
    p.expect("turn").unwrap();
    p.send(ControlCode::EndOfText).unwrap();
    p.expect("(cancelled)").unwrap();
    p.expect("> ").unwrap();
    // the session goes on; the cancelled exchange is not in the history
    p.send_line("hi").unwrap();
    p.expect("turn 1: you said: hi").unwrap();
    p.expect("> ").unwrap();
    // Ctrl-C at the prompt clears the line and keeps the chat
    p.send(ControlCode::EndOfText).unwrap();
    p.expect("> ").unwrap();
    p.send_line("/exit").unwrap();
    p.expect(expectrl::Eof).unwrap();
}
