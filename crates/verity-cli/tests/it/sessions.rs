use serde_json::Value;

use crate::{home, stdout_of, verity};

#[test]
fn continue_resume_and_list() {
    let h = home();
    assert_eq!(
        stdout_of(verity(&h).arg("sessions")).trim(),
        "No saved sessions yet."
    );
    assert_eq!(
        stdout_of(verity(&h).args(["-m", "echo", "first"])),
        "turn 1: you said: first\n"
    );
    // -c keeps the session's model
    assert_eq!(
        stdout_of(verity(&h).args(["-c", "second"])),
        "turn 2: you said: second\n"
    );
    assert_eq!(
        stdout_of(verity(&h).args(["-m", "test", "other"])),
        "success (no tool calls)\n"
    );

    let list = stdout_of(verity(&h).arg("sessions"));
    let rows: Vec<&str> = list.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{list}");
    // newest first
    assert!(
        rows[0].contains("test") && rows[0].ends_with("other"),
        "{list}"
    );
    assert!(
        rows[1].contains("echo") && rows[1].ends_with("first"),
        "{list}"
    );
    let echo_id = rows[1].split_whitespace().next().unwrap();

    // a unique prefix is enough
    let out = stdout_of(verity(&h).args(["--resume", &echo_id[..6], "third"]));
    assert_eq!(out, "turn 3: you said: third\n");
    // that session is the last one now
    assert_eq!(
        stdout_of(verity(&h).args(["-c", "fourth"])),
        "turn 4: you said: fourth\n"
    );
}

#[test]
fn unknown_session_and_nothing_to_continue_exit_2() {
    let h = home();
    let out = verity(&h)
        .args(["-m", "echo", "-c", "hi"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no saved session to continue"));
    let out = verity(&h)
        .args(["--resume", "nosuch", "hi"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no session 'nosuch'"));
}

#[test]
fn no_save_leaves_no_session() {
    let h = home();
    stdout_of(verity(&h).args(["-m", "echo", "--no-save", "hi"]));
    assert_eq!(
        stdout_of(verity(&h).arg("sessions")).trim(),
        "No saved sessions yet."
    );
}

#[test]
fn history_file_is_pydantic_ai_json_and_is_continued() {
    let h = home();
    let file = h.path().join("chat.json");
    stdout_of(
        verity(&h)
            .args(["-m", "echo", "--no-save", "--history"])
            .arg(&file)
            .arg("one"),
    );
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let messages = json.as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["kind"], "request");
    assert_eq!(messages[0]["parts"][0]["part_kind"], "user-prompt");
    assert_eq!(messages[0]["parts"][0]["content"], "one");
    assert_eq!(messages[1]["kind"], "response");
    assert_eq!(messages[1]["parts"][0]["content"], "turn 1: you said: one");

    let out = stdout_of(
        verity(&h)
            .args(["-m", "echo", "--no-save", "--history"])
            .arg(&file)
            .arg("two"),
    );
    assert_eq!(out, "turn 2: you said: two\n");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 4);

    // a file that is not a history is a usage error
    std::fs::write(&file, "{\"not\": \"a list\"}").unwrap();
    let out = verity(&h)
        .args(["-m", "echo", "--history"])
        .arg(&file)
        .arg("x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
