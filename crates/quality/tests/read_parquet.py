#!/usr/bin/env python3
"""Reads the Parquet (and CSV) exports of callrecords-quality with pyarrow AND duckdb and checks row
counts and column types against what the Rust writer declared.

Usage (from the repository root):

    QUALITY_EXPORT_DIR=/tmp/quality-export \
        cargo test -p callrecords-quality --lib export::tests::write_files_for_the_python_check
    python3 crates/quality/tests/read_parquet.py /tmp/quality-export

Needs, from PyPI (the versions this was checked with):

    pip install pyarrow==26.0.1 duckdb==2.0.1

Exits non-zero on the first mismatch; prints one summary line per file and a closing
"N passed, 0 failed" line.
"""

import json
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

# The writer's declared type → (pyarrow type, DuckDB type).
TYPES = {
    "UTF8": (pa.string(), "VARCHAR"),
    "INT64": (pa.int64(), "BIGINT"),
    "DOUBLE": (pa.float64(), "DOUBLE"),
    "BOOLEAN": (pa.bool_(), "BOOLEAN"),
    "TIMESTAMP(MICROS, UTC)": (pa.timestamp("us", tz="UTC"), "TIMESTAMP WITH TIME ZONE"),
}

# Known columns, so the check does not only compare the writer with itself.
KNOWN = {
    "streams": {
        "record_id": "UTF8",
        "record_version": "INT64",
        "start": "TIMESTAMP(MICROS, UTC)",
        "end": "TIMESTAMP(MICROS, UTC)",
        "average_jitter_ms": "DOUBLE",
        "packet_utilization": "INT64",
        "was_media_bypassed": "BOOLEAN",
        "kind": "UTF8",
        "class": "UTF8",
    },
    "sessions": {
        "record_id": "UTF8",
        "start": "TIMESTAMP(MICROS, UTC)",
        "audio_streams": "INT64",
        "poor": "BOOLEAN",
        "failure_stage": "UTF8",
    },
}


def check(dir: Path, name: str, expected: dict) -> None:
    path = dir / f"{name}.parquet"
    cols = expected["columns"]
    rows = expected["rows"]
    declared = {c["name"]: c["type"] for c in cols}
    for col, ty in KNOWN[name].items():
        assert declared.get(col) == ty, f"{name}.{col}: declared {declared.get(col)}, want {ty}"

    # pyarrow
    f = pq.ParquetFile(path)
    assert f.metadata.num_rows == rows, f"pyarrow {name}: {f.metadata.num_rows} rows, want {rows}"
    assert f.metadata.num_row_groups >= 1
    table = f.read()
    assert table.num_rows == rows
    assert table.schema.names == [c["name"] for c in cols], f"pyarrow {name}: column order"
    for c in cols:
        field = table.schema.field(c["name"])
        want = TYPES[c["type"]][0]
        assert field.type == want, f"pyarrow {name}.{c['name']}: {field.type}, want {want}"
        assert field.nullable == c["nullable"], f"pyarrow {name}.{c['name']}: nullable {field.nullable}"
        if not c["nullable"]:
            assert table.column(c["name"]).null_count == 0

    # duckdb
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    (n,) = con.execute("SELECT count(*) FROM read_parquet(?)", [str(path)]).fetchone()
    assert n == rows, f"duckdb {name}: {n} rows, want {rows}"
    described = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()
    assert [d[0] for d in described] == [c["name"] for c in cols], f"duckdb {name}: column order"
    for (col, ty, *_), c in zip(described, cols):
        want = TYPES[c["type"]][1]
        assert ty == want, f"duckdb {name}.{col}: {ty}, want {want}"
    # Timestamps are real instants: min start is a plausible date, and the CSV text agrees with it.
    (first,) = con.execute("SELECT min(start) FROM read_parquet(?)", [str(path)]).fetchone()
    assert first is not None and 2000 <= first.year <= 2100, f"duckdb {name}: min(start) {first}"
    csv = dir / f"{name}.csv"
    if csv.exists():
        (m,) = con.execute(
            "SELECT count(*) FROM read_csv(?, header = true, all_varchar = true)", [str(csv)]
        ).fetchone()
        assert m == rows, f"duckdb {name}.csv: {m} rows, want {rows}"
    print(
        f"{name}: {rows} rows, {len(cols)} columns, {f.metadata.num_row_groups} row group(s), "
        f"types OK in pyarrow {pa.__version__} and duckdb {duckdb.__version__}; min(start) {first}"
    )


def main() -> int:
    dir = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/quality-export")
    expected = json.loads((dir / "expected.json").read_text())
    passed = 0
    for name in ("streams", "sessions"):
        check(dir, name, expected[name])
        passed += 1
    print(f"{passed} passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
