//! The web chat app (coming next).

fn main() {}
