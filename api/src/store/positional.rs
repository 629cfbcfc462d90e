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
//! normalised form, keys ordered by length then bytes, equal as JSON to what `GET` shows).
//! Every column's name and type is still compared with what the reader expects, once per
//! result (on its first row; the rows of one statement share their column descriptions), so a
//! select list that does not match the reader is an error (a 500), never a shifted field.
//!
//! The JSON made from these rows is then cached per row ([`crate::store::row_cache`]), so a page
//! listed again reads only ids and versions.
//!
//! The same lists keep SeaORM's models on SQLite, and `GET` of a single row everywhere: the
//! integration tests check that both give the same JSON.

use sea_orm::sqlx::postgres::{PgColumn, PgRow};
use sea_orm::sqlx::{Column, Decode, Postgres, Row, Type};
use sea_orm::{DbErr, QueryResult};
use serde::Deserialize;
use serde::de::value::BorrowedStrDeserializer;

/// Reads a row's columns one after the other.
///
/// The rows of one result share their column descriptions (PostgreSQL sends one
/// `RowDescription` per statement; sqlx shares it between the rows). [`read_all`] checks the
/// names and types of the first row's columns and reads the rows that share its descriptions
/// without checking them again: per value only the decoding is left (checking every value's
/// name and type was ~7% of the service's CPU time per list page, `perf`).
pub struct Columns<'r> {
    row: &'r PgRow,
    next: usize,
    check: bool,
}

impl<'r> Columns<'r> {
    /// A reader at the first column of `row` that checks each column's name and type.
    fn checking(row: &'r PgRow) -> Self {
        Columns {
            row,
            next: 0,
            check: true,
        }
    }

    /// A reader at the first column of `row`, whose columns' names and types were checked on
    /// a row with the same column descriptions.
    fn already_checked(row: &'r PgRow) -> Self {
        Columns {
            row,
            next: 0,
            check: false,
        }
    }

    /// The next column's value, which must be named `name` (`Option<T>` for a nullable one).
    ///
    /// # Errors
    /// `DbErr::Type` naming the column when its name differs, its type is not one `T` decodes
    /// (checked whether or not the value is NULL), or its value does not decode as `T`.
    pub fn next<T>(&mut self, name: &str) -> Result<T, DbErr>
    where
        T: Decode<'r, Postgres> + Type<Postgres>,
    {
        let index = self.next;
        self.next += 1;
        if self.check {
            match self.row.columns().get(index) {
                Some(column) if column.name() == name => {
                    if !T::compatible(column.type_info()) {
                        return Err(DbErr::Type(format!(
                            "column {name:?} is of type {}, which {} does not decode",
                            column.type_info(),
                            std::any::type_name::<T>()
                        )));
                    }
                }
                found => {
                    return Err(DbErr::Type(format!(
                        "column {index} is {:?}, expected {name:?}",
                        found.map(|c| c.name())
                    )));
                }
            }
        }
        self.row
            .try_get_unchecked(index)
            .map_err(|e| DbErr::Type(format!("column {name:?}: {e}")))
    }
}

/// Reads each row of `results` (PostgreSQL rows of one statement) with `read`, checking
/// column names and types until a row has been read to its last column (a reader may stop
/// early on some rows: [`crate::store::row_cache`]); then the rows that share that row's column
/// descriptions are read unchecked.
///
/// # Errors
/// `read`'s, or `DbErr::Type` for a row of another database.
pub fn read_all<'r, T>(
    results: &'r [QueryResult],
    mut read: impl FnMut(&mut Columns<'r>) -> Result<T, DbErr>,
) -> Result<Vec<T>, DbErr> {
    let mut checked: Option<&'r [PgColumn]> = None;
    results
        .iter()
        .map(|r| {
            let row = r
                .try_as_pg_row()
                .ok_or_else(|| DbErr::Type("not a PostgreSQL row".to_owned()))?;
            let columns = row.columns();
            if checked.is_some_and(|c| std::ptr::eq(c, columns)) {
                read(&mut Columns::already_checked(row))
            } else {
                let mut reader = Columns::checking(row);
                let value = read(&mut reader)?;
                if reader.next == columns.len() {
                    checked = Some(columns);
                }
                Ok(value)
            }
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
