//! PydanticAI's documented examples on Verity: the binaries in `src/bin/` (see the
//! README), and what they share — how a model is chosen, the local model, a stand-in
//! for the weather example's HTTP APIs, and a throwaway PostgreSQL server.

#![forbid(clippy::dbg_macro)]

pub mod markdown;
pub mod pg;
pub mod support;
pub mod weather_api;
