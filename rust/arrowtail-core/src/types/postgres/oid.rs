//! Built-in PostgreSQL type OIDs (from `pg_type.dat`, stable across releases) and the lookup of a
//! built-in type by its `pg_catalog` name, used to resolve domains: pgoutput's Type message
//! (`Y`) carries the domain's OID but the name of its base type.

pub const BOOL: u32 = 16;
pub const BYTEA: u32 = 17;
pub const CHAR: u32 = 18;
pub const NAME: u32 = 19;
pub const INT8: u32 = 20;
pub const INT2: u32 = 21;
pub const INT4: u32 = 23;
pub const TEXT: u32 = 25;
pub const OID: u32 = 26;
pub const JSON: u32 = 114;
pub const FLOAT4: u32 = 700;
pub const FLOAT8: u32 = 701;
pub const BPCHAR: u32 = 1042;
pub const VARCHAR: u32 = 1043;
pub const DATE: u32 = 1082;
pub const TIME: u32 = 1083;
pub const TIMESTAMP: u32 = 1114;
pub const TIMESTAMPTZ: u32 = 1184;
pub const INTERVAL: u32 = 1186;
pub const TIMETZ: u32 = 1266;
pub const NUMERIC: u32 = 1700;
pub const UUID: u32 = 2950;
pub const JSONB: u32 = 3802;

/// Array type OID -> element type OID, for the element types that have an Arrow mapping.
pub const ARRAYS: &[(u32, u32)] = &[
    (1000, BOOL),
    (1001, BYTEA),
    (1003, NAME),
    (1005, INT2),
    (1007, INT4),
    (1009, TEXT),
    (1014, BPCHAR),
    (1015, VARCHAR),
    (1016, INT8),
    (1021, FLOAT4),
    (1022, FLOAT8),
    (1028, OID),
    (1115, TIMESTAMP),
    (1182, DATE),
    (1183, TIME),
    (1185, TIMESTAMPTZ),
    (1187, INTERVAL),
    (1231, NUMERIC),
    (1270, TIMETZ),
    (199, JSON),
    (2951, UUID),
    (3807, JSONB),
];

/// Element OID of a built-in array type.
pub fn array_element(oid: u32) -> Option<u32> {
    ARRAYS.iter().find(|(a, _)| *a == oid).map(|(_, e)| *e)
}

/// The OID of a `pg_catalog` type by name (as sent in a Type message), for types with a mapping.
pub fn by_name(name: &str) -> Option<u32> {
    let scalar = match name {
        "bool" => BOOL,
        "bytea" => BYTEA,
        "char" => CHAR,
        "name" => NAME,
        "int8" => INT8,
        "int2" => INT2,
        "int4" => INT4,
        "text" => TEXT,
        "oid" => OID,
        "json" => JSON,
        "float4" => FLOAT4,
        "float8" => FLOAT8,
        "bpchar" => BPCHAR,
        "varchar" => VARCHAR,
        "date" => DATE,
        "time" => TIME,
        "timestamp" => TIMESTAMP,
        "timestamptz" => TIMESTAMPTZ,
        "interval" => INTERVAL,
        "timetz" => TIMETZ,
        "numeric" => NUMERIC,
        "uuid" => UUID,
        "jsonb" => JSONB,
        _ => {
            // Array types are named `_element`.
            let elem = by_name(name.strip_prefix('_')?)?;
            return ARRAYS.iter().find(|(_, e)| *e == elem).map(|(a, _)| *a);
        }
    };
    Some(scalar)
}
