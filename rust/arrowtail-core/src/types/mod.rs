//! Codecs of source database types into Arrow column builders, by source and type family. They are
//! shared by every decoder of that source (PostgreSQL: `pgoutput` tuples and `COPY BINARY` rows).

pub mod postgres;
