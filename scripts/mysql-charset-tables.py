"""Writes rust/arrowtail-core/src/types/mysql/charset_tables.rs from a running MariaDB or MySQL.

The binlog carries the bytes of a text column in the column's character set. For the single-byte
character sets the decoder maps every byte through a table; the tables come from the server itself
(``CONVERT(... USING utf32)`` of each byte), so a value reads the same from the binlog as from a
``SELECT``. A byte the server turns into ``?`` (other than ``?`` itself) is undefined in that set
and becomes U+FFFD.

    python scripts/mysql-charset-tables.py mysql://root@127.0.0.1:3306/ > \\
        rust/arrowtail-core/src/types/mysql/charset_tables.rs
"""

from __future__ import annotations

import sys
from urllib.parse import urlsplit

import pymysql

#: The single-byte character sets that are not plain ASCII or a byte string.
SINGLE_BYTE = (
    "armscii8 cp1250 cp1251 cp1256 cp1257 cp850 cp852 cp866 dec8 geostd8 greek hebrew hp8 "
    "keybcs2 koi8r koi8u latin1 latin2 latin5 latin7 macce macroman swe7 tis620"
).split()


def table(cur: pymysql.cursors.Cursor, charset: str) -> list[int]:
    out = []
    for b in range(256):
        cur.execute(
            f"SELECT HEX(CONVERT(CAST(UNHEX(%s) AS CHAR CHARACTER SET {charset}) USING utf32))",
            (f"{b:02X}",),
        )
        (hexed,) = cur.fetchone()
        cp = int(hexed, 16) if hexed else 0xFFFD
        if cp == 0x3F and b != 0x3F:
            cp = 0xFFFD
        out.append(cp)
    return out


def main() -> None:
    url = urlsplit(sys.argv[1])
    conn = pymysql.connect(
        host=url.hostname or "127.0.0.1",
        port=url.port or 3306,
        user=url.username or "root",
        password=url.password or "",
    )
    print("//! Byte-to-code-point tables of the single-byte MySQL/MariaDB character sets, as the")
    print("//! server converts them (`scripts/mysql-charset-tables.py` writes this file). U+FFFD")
    print("//! marks a byte the character set leaves undefined.")
    print()
    with conn.cursor() as cur:
        for cs in SINGLE_BYTE:
            codes = table(cur, cs)
            print(f"pub(super) static {cs.upper()}: [u16; 256] = [")
            for i in range(0, 256, 12):
                print("    " + " ".join(f"0x{c:04X}," for c in codes[i : i + 12]))
            print("];")
            print()


if __name__ == "__main__":
    main()
