"""Runs one statement on DataFusion (Apache Arrow's SQL engine, from PyPI) as the caller: the
catalog's tables are read from S3 with the caller's own credentials, so SeaweedFS decides what
the caller may read, and an Athena-shaped result (Athena's type names, values as text) comes out.

DataFusion runs queries only: DDL, DML and other statements are refused by its own planner
(`SQLOptions`), as this stand-in has nowhere to keep what they would change."""

import datetime
import decimal
import re

import pyarrow as pa
from datafusion import SessionConfig, SessionContext, SQLOptions, lit
from datafusion.catalog import Catalog, Schema
from datafusion.object_store import AmazonS3

from .identity import Caller

CATALOG = "awsdatacatalog"
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class QueryFailed(Exception):
    """The statement was accepted but could not run; `code` is Athena's error name for it."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code


class Malformed(Exception):
    """The statement does not parse (Athena refuses it before running)."""


def parse_check(sql: str) -> None:
    """Raises Malformed when DataFusion's parser refuses the text."""
    try:
        SessionContext().sql_with_options(sql, read_only())
    except BaseException as error:  # pyo3 errors may be BaseException
        text = str(error)
        if "SQL error: ParserError" in text:
            raise Malformed(text.split("ParserError(", 1)[-1].rstrip(")").strip('"'))


def read_only() -> SQLOptions:
    return SQLOptions().with_allow_ddl(False).with_allow_dml(False).with_allow_statements(False)


def run(sql: str, database: str, tables: dict, caller: Caller, s3_endpoint: str, region: str):
    """`tables`: {database: [catalog.Table]}. Returns (columns, rows): Athena ColumnInfo dicts
    and rows of text (None for NULL)."""
    config = (
        SessionConfig()
        .with_default_catalog_and_schema(CATALOG, database or "default")
        .with_create_default_catalog_and_schema(False)
        .with_information_schema(True)
    )
    ctx = SessionContext(config)
    ctx.register_catalog_provider(CATALOG, Catalog.memory_catalog())
    catalog = ctx.catalog(CATALOG)
    buckets = {b for db in tables.values() for t in db for b in t.buckets()}
    for bucket in sorted(buckets):
        store = AmazonS3(
            bucket_name=bucket,
            region=region,
            access_key_id=caller.access_key_id,
            secret_access_key=caller.secret_access_key,
            session_token=caller.session_token,
            endpoint=s3_endpoint,
            allow_http=s3_endpoint.startswith("http://"),
        )
        ctx.register_object_store("s3://", store, bucket)
    for db, db_tables in tables.items():
        schema = Schema.memory_schema()
        catalog.register_schema(db, schema)
        for table in db_tables:
            schema.register_table(table.name, frame(ctx, table))
    try:
        df = ctx.sql_with_options(sql, read_only())
        result = df.to_arrow_table()
    except BaseException as error:
        raise failure(str(error))
    return columns(result.schema), rows(result)


def frame(ctx, table):
    """The table as a DataFrame: every file under its location, or its files, each with the
    values of the catalog's extra columns."""
    schema = table.schema()
    if not table.files:
        return read(ctx, table, table.location, schema)
    frames = []
    for path, extra in table.files:
        df = read(ctx, table, path, schema)
        for name, value in extra.items():
            df = df.with_column(name, lit(value))
        frames.append(df)
    if not frames:
        empty = pa.table({f.name: pa.array([], f.type) for f in schema}
                         | {c["name"]: pa.array([], pa.string()) for c in table.extra_columns})
        return ctx.from_arrow(empty)
    combined = frames[0]
    for df in frames[1:]:
        combined = combined.union(df)
    return combined


def read(ctx, table, path, schema):
    if table.format in ("csv", "tsv"):
        return ctx.read_csv(
            path,
            schema=schema,
            has_header=table.header,
            delimiter="\t" if table.format == "tsv" else ",",
            file_extension=table.file_extension,
        )
    if table.format == "parquet":
        return ctx.read_parquet(path, schema=schema, file_extension=table.file_extension)
    return ctx.read_json(path, schema=schema, file_extension=table.file_extension)


def failure(text: str) -> QueryFailed:
    """DataFusion's error as Athena would name it."""
    lowered = text.lower()
    if "accessdenied" in lowered or "access denied" in lowered or "403" in text:
        return QueryFailed("PERMISSION_DENIED", "Access denied when reading the table's data from S3 " + short(text))
    if "not found" in lowered and "table" in lowered:
        return QueryFailed("TABLE_NOT_FOUND", short(text))
    if "no field named" in lowered:
        return QueryFailed("COLUMN_NOT_FOUND", short(text))
    if "not supported" in lowered:
        return QueryFailed("NOT_SUPPORTED", short(text) + " (the stand-in runs queries only)")
    return QueryFailed("GENERIC_USER_ERROR", short(text))


def short(text: str) -> str:
    return text.strip().splitlines()[0][:500] if text.strip() else "the engine failed"


# Arrow → Athena's type name, precision and scale (as Athena reports them).
def athena_type(t: pa.DataType):
    if pa.types.is_boolean(t):
        return "boolean", 0, 0
    if pa.types.is_int8(t):
        return "tinyint", 3, 0
    if pa.types.is_int16(t) or pa.types.is_uint8(t):
        return "smallint", 5, 0
    if pa.types.is_int32(t) or pa.types.is_uint16(t):
        return "integer", 10, 0
    if pa.types.is_int64(t) or pa.types.is_uint32(t):
        return "bigint", 19, 0
    if pa.types.is_uint64(t):
        return "decimal", 20, 0
    if pa.types.is_float16(t) or pa.types.is_float32(t):
        return "float", 17, 0
    if pa.types.is_float64(t):
        return "double", 17, 0
    if pa.types.is_decimal(t):
        return "decimal", t.precision, t.scale
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "varchar", 2147483647, 0
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return "varbinary", 1073741824, 0
    if pa.types.is_date(t):
        return "date", 0, 0
    if pa.types.is_timestamp(t):
        return ("timestamp with time zone" if t.tz else "timestamp"), 3, 0
    if pa.types.is_time(t):
        return "time", 3, 0
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return "array", 0, 0
    if pa.types.is_map(t):
        return "map", 0, 0
    if pa.types.is_struct(t):
        return "row", 0, 0
    if pa.types.is_null(t):
        return "unknown", 0, 0
    return "varchar", 2147483647, 0


def columns(schema: pa.Schema) -> list:
    out = []
    for index, field in enumerate(schema):
        # Athena names a column it was given no name for `_colN`; DataFusion names it after the
        # expression (`count(*)`, `Int64(1)`).
        name = field.name if IDENTIFIER.fullmatch(field.name) else f"_col{index}"
        kind, precision, scale = athena_type(field.type)
        out.append({
            "CatalogName": "hive",
            "SchemaName": "",
            "TableName": "",
            "Name": name,
            "Label": name,
            "Type": kind,
            "Precision": precision,
            "Scale": scale,
            "Nullable": "UNKNOWN",
            "CaseSensitive": kind == "varchar",
        })
    return out


def rows(table: pa.Table) -> list:
    return [[text(value) for value in row.values()] for row in table.to_pylist()]


def text(value):
    """A value as Athena's results show it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, bytes):
        return " ".join(f"{b:02x}" for b in value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join("null" if v is None else text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={'null' if v is None else text(v)}" for k, v in value.items()) + "}"
    return str(value)
