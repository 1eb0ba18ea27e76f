use crate::run_example;

#[tokio::test]
async fn the_table_fills_in_while_the_whales_stream() {
    let run = run_example(env!("CARGO_BIN_EXE_stream_whales"), &[], &[]).await;
    // stdout is not a terminal: the final table only
    for cell in [
        "Blue whale",
        "Humpback whale",
        "Sperm whale",
        "Narwhal",
        "Bowhead whale",
        "140000",
        "Arctic Ocean",
        "Avg. Weight (kg)",
    ] {
        assert!(run.stdout.contains(cell), "{cell}:\n{}", run.stdout);
    }
    assert!(!run.stdout.contains('…'), "{}", run.stdout);
    // the partial outputs: many tables were drawn on the way
    let frames: usize = run
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("partial tables: "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(frames > 10, "{}", run.stderr);
}
