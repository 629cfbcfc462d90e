//! SQL text helpers for the statements written by hand (claims, set-based updates, analytics):
//! the one place that knows each backend's bind-parameter syntax.

use sea_orm::DatabaseBackend;

/// The `i`-th (1-based) bind parameter: `$i` on PostgreSQL, `?i` on SQLite.
pub fn placeholder(backend: DatabaseBackend, i: usize) -> String {
    if backend == DatabaseBackend::Postgres {
        format!("${i}")
    } else {
        format!("?{i}")
    }
}

/// `a = $1, b = $2, ...` for `columns`, numbered from 1.
pub fn assignments(backend: DatabaseBackend, columns: &[&str]) -> String {
    columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c} = {}", placeholder(backend, i + 1)))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_follow_the_backend() {
        assert_eq!(placeholder(DatabaseBackend::Postgres, 3), "$3");
        assert_eq!(placeholder(DatabaseBackend::Sqlite, 3), "?3");
        assert_eq!(
            assignments(DatabaseBackend::Postgres, &["a", "b"]),
            "a = $1, b = $2"
        );
        assert_eq!(assignments(DatabaseBackend::Sqlite, &["a"]), "a = ?1");
    }
}
