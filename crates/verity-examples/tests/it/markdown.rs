//! The live renderer on its own: what a terminal receives.
use verity_examples::markdown::LiveMarkdown;

#[test]
fn live_updates_redraw_the_block_in_progress() {
    let answer = "# Title\n\nSome **bold** text\nand more.\n\n- one\n- two\n";
    let mut view = LiveMarkdown::new(Vec::new(), true, 60);
    let mut text = String::new();
    for c in answer.chars() {
        text.push(c);
        view.update(&text).unwrap();
    }
    view.finish(&text).unwrap();
    let screen = String::from_utf8(view.into_inner()).unwrap();
    // the block in progress was erased and drawn again (cursor up, clear)
    assert!(screen.contains("\x1b[J"), "{screen:?}");
    assert!(screen.contains("\x1b[1A"), "{screen:?}");
    // the finished bold text was drawn styled, without its markers at the end
    assert!(screen.contains("bold"));
    let last_frame = screen.rsplit("\x1b[J").next().unwrap();
    assert!(!last_frame.contains("**"), "{last_frame:?}");
    // complete blocks are drawn once: the title appears a bounded number of times
    // (while its line was in progress, then once for good)
    assert!(screen.matches("Title").count() <= "# Title\n".len() + 1);
}

#[test]
fn not_live_prints_only_the_final_rendering() {
    let mut view = LiveMarkdown::new(Vec::new(), false, 60);
    view.update("# Tit").unwrap();
    view.finish("# Title\n\n*hello*\n").unwrap();
    let out = String::from_utf8(view.into_inner()).unwrap();
    assert!(!out.contains('\x1b'), "{out:?}");
    assert!(
        out.contains("Title") && out.contains("hello") && !out.contains('*'),
        "{out:?}"
    );
}
