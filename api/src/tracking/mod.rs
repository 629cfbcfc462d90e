//! Recording the LLM calls that client apps make with a prompt version: tracked calls and
//! their lists ([`responses`]), the revision-checked cache of what a tracked call reads
//! ([`version_cache`]), and version analytics computed in SQL ([`stats`]).

pub mod responses;
pub mod stats;
pub mod version_cache;
