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

/// Formats an LSN the way PostgreSQL prints it (`16/B374D848`).
pub fn format_lsn(lsn: u64) -> String {
    format!("{:X}/{:X}", lsn >> 32, lsn & 0xFFFF_FFFF)
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
            Error::Arrow { .. } => ErrorKind::Internal,
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
    fn lsn_is_printed_like_postgres() {
        assert_eq!(format_lsn(0x16_B374_D848), "16/B374D848");
        assert_eq!(format_lsn(0), "0/0");
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
