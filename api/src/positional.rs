//! The rows of the busiest lists (LLM responses, evaluations) read on PostgreSQL by position,
//! borrowing from the driver's row buffer, and serialised from there.
//!
//! Through SeaORM, a page of 51 LLM responses found every value by column name (a hash lookup
//! in the row's column map, done twice: to check the type, then to decode), reported each NULL
//! read into an `Option` as an error whose message it formatted first, copied every string
//! into a `String` and parsed every `jsonb` value into a `serde_json::Value`, to copy it all
//! again into the response. That was half of the service's CPU time per list request
//! (`perf record --call-graph dwarf` during `scripts/load-tracking.sh`, phase C). A
//! [`Columns`] reader decodes the values in select order with sqlx, as `&str` and
//! `&RawValue` where it can (a `jsonb` value as the text PostgreSQL's `jsonb` output gives, after
//! its version byte: validated, not parsed; so lists show JSON columns in PostgreSQL's
//! normalised form, keys ordered by length then bytes, equal as JSON to what `GET` shows); every column's name is still compared with the expected one, so a select list that
//! does not match the reader is an error (a 500), never a shifted field.
//!
//! The same lists keep SeaORM's models on SQLite, and `GET` of a single row everywhere: the
//! integration tests check that both give the same JSON.

use sea_orm::sqlx::postgres::PgRow;
use sea_orm::sqlx::{Column, Decode, Postgres, Row, Type};
use sea_orm::{DbErr, QueryResult};
use serde::Deserialize;
use serde::de::value::BorrowedStrDeserializer;

/// Reads a row's columns one after the other.
pub struct Columns<'r> {
    row: &'r PgRow,
    next: usize,
}

impl<'r> Columns<'r> {
    /// A reader at the first column of `row`.
    pub fn of(row: &'r PgRow) -> Self {
        Columns { row, next: 0 }
    }

    /// The next column's value, which must be named `name` (`Option<T>` for a nullable one).
    ///
    /// # Errors
    /// `DbErr::Type` naming the column when its name differs or its value does not decode as `T`.
    pub fn next<T>(&mut self, name: &str) -> Result<T, DbErr>
    where
        T: Decode<'r, Postgres> + Type<Postgres>,
    {
        let index = self.next;
        self.next += 1;
        match self.row.columns().get(index).map(|c| c.name()) {
            Some(found) if found == name => {}
            found => {
                return Err(DbErr::Type(format!(
                    "column {index} is {found:?}, expected {name:?}"
                )));
            }
        }
        self.row
            .try_get(index)
            .map_err(|e| DbErr::Type(format!("column {name:?}: {e}")))
    }
}

/// Reads each row of `results` (PostgreSQL rows, from `pagination::fetch_raw`) with `read`.
///
/// # Errors
/// `read`'s, or `DbErr::Type` for a row of another database.
pub fn read_all<'r, T>(
    results: &'r [QueryResult],
    read: impl Fn(&'r PgRow) -> Result<T, DbErr>,
) -> Result<Vec<T>, DbErr> {
    results
        .iter()
        .map(|r| {
            r.try_as_pg_row()
                .ok_or_else(|| DbErr::Type("not a PostgreSQL row".to_owned()))
                .and_then(&read)
        })
        .collect()
}

/// An enum stored as its serde name (`ResponseStatus`, `EvaluationContext`: their
/// `string_value`s are their `snake_case` serde names).
///
/// # Errors
/// `DbErr::Type` for a name the enum does not have.
pub fn string_enum<'r, T: Deserialize<'r>>(value: &'r str) -> Result<T, DbErr> {
    T::deserialize(BorrowedStrDeserializer::<serde::de::value::Error>::new(
        value,
    ))
    .map_err(|e| DbErr::Type(e.to_string()))
}
