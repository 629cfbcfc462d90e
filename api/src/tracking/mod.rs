//! Recording the LLM calls that client apps make with a prompt version: tracked calls and
//! their lists ([`responses`]), the one writer of LLM-call rows, whatever their source
//! ([`calls`]), the revision-checked cache of what a tracked call reads ([`version_cache`]),
//! and version analytics computed in SQL ([`stats`]).

pub mod calls;
pub mod responses;
pub mod stats;
pub mod version_cache;
