//! The one error type of the core. Every variant says where the problem was found, so that a
//! message shown to a user can name the LSN, binlog file and offset, relation, column or type.

use std::fmt;

/// Where in a source stream something happened.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Location {
    /// No position is known (e.g. a configuration problem).
    #[default]
    Unknown,
    /// A PostgreSQL WAL position (the LSN of the XLogData or message), with the byte offset inside
    /// the message when known.
    Lsn { lsn: u64, offset: Option<usize> },
    /// A MySQL/MariaDB binlog file name and byte offset of the event.
    Binlog { file: String, offset: u64 },
    /// A byte offset in an input that has no better coordinates (a capture file, a COPY stream).
    Offset(u64),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Unknown => f.write_str("unknown position"),
            Location::Lsn { lsn, offset: None } => write!(f, "LSN {}", format_lsn(*lsn)),
            Location::Lsn {
                lsn,
                offset: Some(o),
            } => write!(f, "LSN {} (byte {o} of the message)", format_lsn(*lsn)),
            Location::Binlog { file, offset } => write!(f, "binlog {file} offset {offset}"),
            Location::Offset(o) => write!(f, "byte offset {o}"),
        }
    }
}

use crate::lsn::format_lsn;

/// `" (found at <location>)"`, or nothing for an unknown location.
fn found_at(at: &Location) -> String {
    match at {
        Location::Unknown => String::new(),
        at => format!(" (found at {at})"),
    }
}

/// Errors of the arrowtail core. Each variant maps to exactly one Python exception class in
/// `arrowtail.exceptions` (named in the variant's doc).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Malformed or truncated input bytes (`DecodeError`).
    #[error("cannot decode {what} at {at}: {detail}")]
    Decode {
        what: &'static str,
        at: Location,
        detail: String,
    },
    /// A value of a type the decoder cannot represent and has no text form for
    /// (`UnsupportedTypeError`).
    #[error("unsupported type {type_name} for column {column} of {table} at {at}: {detail}")]
    UnsupportedType {
        table: String,
        column: String,
        type_name: String,
        at: Location,
        detail: String,
    },
    /// Rows that disagree with the known schema of their table (`SchemaChangeError`).
    #[error("schema of {table} changed at {at}: {detail}")]
    SchemaChange {
        table: String,
        at: Location,
        detail: String,
    },
    /// A caller used the API wrongly, e.g. an invalid option (`ConfigError`).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// An error the server itself sent inside a stream being decoded, e.g. a MySQL/MariaDB error
    /// packet ending a binlog dump (`ServerError`, which carries `code`). `code` is the server's
    /// own error code as text: a MySQL/MariaDB errno (`1236`) or a PostgreSQL SQLSTATE
    /// (`55006`), so the source can tell a transient failure from a permanent one.
    #[error("cannot decode {what} at {at}: the server sent error {code}: {message}")]
    Server {
        what: &'static str,
        code: String,
        at: Location,
        message: String,
    },
    /// A user column named like one of the metadata columns every change batch adds
    /// ([`crate::arrow::change::names::RESERVED`]), which the batch could not tell apart from it
    /// (`ReservedColumnError`).
    #[error(
        "cannot capture {table}: its column {column:?} has the name of a column arrowtail adds to \
         every change ({reserved}); leave the column out of the capture (PostgreSQL 15 and later: \
         a column list on the publication, e.g. --tables \"{table} (...)\") or rename it at the \
         source{found}",
        reserved = crate::arrow::change::names::RESERVED.join(", "),
        found = found_at(at)
    )]
    ReservedColumn {
        table: String,
        column: String,
        at: Location,
    },
    /// An Arrow array could not be assembled; this is a bug in arrowtail, not bad input
    /// (`InternalError`, with the position).
    #[error("cannot build Arrow batch for {table} at {at}: {source}")]
    Arrow {
        table: String,
        at: Location,
        #[source]
        source: arrow_schema::ArrowError,
    },
}

/// What kind of problem an [`Error`] is, for callers that map errors onto their own classes (the
/// Python binding's exception hierarchy). Unlike [`Error`] it is exhaustive: a new kind is a
/// decision every caller has to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Malformed, truncated or inconsistent input.
    Decode,
    /// A source type without a mapping.
    UnsupportedType,
    /// Rows that disagree with their table's known schema.
    SchemaChange,
    /// Wrong use of the API or an invalid option.
    Config,
    /// An error reported by the source server, with its code.
    Server,
    /// A user column with the name of a metadata column.
    ReservedColumn,
    /// A bug in arrowtail, not a problem of the input.
    Internal,
}

impl Error {
    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Decode { .. } => ErrorKind::Decode,
            Error::UnsupportedType { .. } => ErrorKind::UnsupportedType,
            Error::SchemaChange { .. } => ErrorKind::SchemaChange,
            Error::Config(_) => ErrorKind::Config,
            Error::Server { .. } => ErrorKind::Server,
            Error::ReservedColumn { .. } => ErrorKind::ReservedColumn,
            Error::Arrow { .. } => ErrorKind::Internal,
        }
    }

    /// The server's error code when the server reported this error (`Error::Server`).
    pub fn server_code(&self) -> Option<&str> {
        match self {
            Error::Server { code, .. } => Some(code),
            _ => None,
        }
    }

    /// [`Error::ReservedColumn`] for the first of `columns` of `table` named like a metadata
    /// column, if any.
    pub fn check_column_names<'a>(
        table: &str,
        columns: impl IntoIterator<Item = &'a str>,
        at: impl FnOnce() -> Location,
    ) -> Result<()> {
        match columns
            .into_iter()
            .find(|c| crate::arrow::change::names::RESERVED.contains(c))
        {
            Some(column) => Err(Error::ReservedColumn {
                table: table.to_string(),
                column: column.to_string(),
                at: at(),
            }),
            None => Ok(()),
        }
    }

    /// A decode error at a location.
    pub fn decode(what: &'static str, at: Location, detail: impl Into<String>) -> Self {
        Error::Decode {
            what,
            at,
            detail: detail.into(),
        }
    }
}

/// Result alias of the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_error_keeps_its_code() {
        let e = Error::Server {
            what: "replication stream",
            code: "1236".into(),
            at: Location::Binlog {
                file: "mysql-bin.000042".into(),
                offset: 4,
            },
            message: "(HY000) Could not find first log file name".into(),
        };
        assert_eq!(e.kind(), ErrorKind::Server);
        assert_eq!(e.server_code(), Some("1236"));
        assert_eq!(
            e.to_string(),
            "cannot decode replication stream at binlog mysql-bin.000042 offset 4: \
             the server sent error 1236: (HY000) Could not find first log file name"
        );
        assert_eq!(Error::Config("x".into()).server_code(), None);
    }

    #[test]
    fn a_reserved_column_name_is_refused_with_the_table_and_column() {
        let at = || Location::Lsn {
            lsn: 0x2_0000_0040,
            offset: None,
        };
        assert!(Error::check_column_names("public.t", ["id", "op", "seq_", "_Seq"], at).is_ok());
        for name in crate::arrow::change::names::RESERVED {
            let e = Error::check_column_names("public.t", ["id", name, "_op"], at).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ReservedColumn);
            let text = e.to_string();
            assert!(
                text.starts_with(&format!("cannot capture public.t: its column \"{name}\" ")),
                "{text}"
            );
            assert!(text.ends_with("(found at LSN 2/40)"), "{text}");
        }
        let e = Error::check_column_names("db.t", ["_xid"], || Location::Unknown).unwrap_err();
        assert!(e.to_string().ends_with("rename it at the source"), "{e}");
    }

    #[test]
    fn decode_error_names_the_position() {
        let e = Error::decode(
            "Insert message",
            Location::Lsn {
                lsn: 0x1_0000_0010,
                offset: Some(7),
            },
            "tuple ends after 3 of 5 columns",
        );
        assert_eq!(
            e.to_string(),
            "cannot decode Insert message at LSN 1/10 (byte 7 of the message): tuple ends after 3 of 5 columns"
        );
    }
}
