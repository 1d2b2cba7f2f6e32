"""The Glue catalog: databases and tables from the stand-in's configuration, in the shapes
Glue (`Table`) and Athena (`TableMetadata`) answer with, and the Arrow schema each table is
read with (so column types are the catalog's, never guessed from the data)."""

import re
from dataclasses import dataclass, field

import pyarrow as pa

from .errors import invalid, not_found

GLUE_CATALOG = "AwsDataCatalog"

# Hive type names (as Glue stores them) → Arrow.
HIVE_TYPES = {
    "string": pa.string(),
    "varchar": pa.string(),
    "char": pa.string(),
    "bigint": pa.int64(),
    "int": pa.int32(),
    "integer": pa.int32(),
    "smallint": pa.int16(),
    "tinyint": pa.int8(),
    "double": pa.float64(),
    "float": pa.float32(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("ms"),
}
DECIMAL = re.compile(r"decimal\((\d+),\s*(\d+)\)")

FORMATS = {
    "csv": ("org.apache.hadoop.mapred.TextInputFormat", "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe", {"field.delim": ","}),
    "tsv": ("org.apache.hadoop.mapred.TextInputFormat", "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe", {"field.delim": "\t"}),
    "parquet": (
        "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
        "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
        {"serialization.format": "1"},
    ),
    "json": ("org.apache.hadoop.mapred.TextInputFormat", "org.openx.data.jsonserde.JsonSerDe", {}),
}


def arrow_type(hive: str) -> pa.DataType:
    hive = hive.strip().lower()
    if hive in HIVE_TYPES:
        return HIVE_TYPES[hive]
    match = DECIMAL.fullmatch(hive)
    if match:
        return pa.decimal128(int(match[1]), int(match[2]))
    raise ValueError(f"column type {hive!r} is not one the stand-in reads")


@dataclass
class Table:
    name: str
    database: str
    # `s3://bucket/prefix/` (every file under it) or explicit files, for Tabulator's tables.
    location: str
    format: str
    columns: list
    header: bool = True
    # Only files whose names end so are read from the location ("" reads every file).
    file_extension: str = ""
    files: list = field(default_factory=list)
    # Columns the catalog adds to every row (Tabulator's package name, logical key…), with
    # each file's value for them.
    extra_columns: list = field(default_factory=list)

    def schema(self) -> pa.Schema:
        return pa.schema([(c["name"], arrow_type(c["type"])) for c in self.columns])

    def buckets(self) -> set:
        paths = [path for path, _ in self.files] or [self.location]
        return {path[len("s3://"):].split("/", 1)[0] for path in paths}

    def glue(self) -> dict:
        input_format, serde, parameters = FORMATS[self.format]
        return {
            "Name": self.name,
            "DatabaseName": self.database,
            "TableType": "EXTERNAL_TABLE",
            "CreateTime": 0,
            "Parameters": {
                "classification": "csv" if self.format == "tsv" else self.format,
                "EXTERNAL": "TRUE",
                **({"skip.header.line.count": "1"} if self.header and self.format in ("csv", "tsv") else {}),
            },
            "PartitionKeys": [],
            "StorageDescriptor": {
                "Columns": [column_shape(c) for c in self.columns + self.extra_columns],
                "Location": self.location,
                "InputFormat": input_format,
                "Compressed": False,
                "NumberOfBuckets": -1,
                "SerdeInfo": {"SerializationLibrary": serde, "Parameters": parameters},
            },
            "IsRegisteredWithLakeFormation": False,
        }

    def athena(self) -> dict:
        glue = self.glue()
        storage = glue["StorageDescriptor"]
        return {
            "Name": self.name,
            "CreateTime": 0,
            "TableType": "EXTERNAL_TABLE",
            "Columns": storage["Columns"],
            "PartitionKeys": [],
            "Parameters": {
                **glue["Parameters"],
                "location": storage["Location"],
                "inputformat": storage["InputFormat"],
                "serde.serialization.lib": storage["SerdeInfo"]["SerializationLibrary"],
                **{f"serde.param.{k}": v for k, v in storage["SerdeInfo"]["Parameters"].items()},
            },
        }


def column_shape(column: dict) -> dict:
    shape = {"Name": column["name"], "Type": column["type"]}
    if column.get("comment"):
        shape["Comment"] = column["comment"]
    return shape


class GlueCatalog:
    """The configured databases: `{"db": {"description": …, "tables": {"t": {location, format,
    columns, header}}}}`."""

    def __init__(self, databases: dict):
        self.databases = {}
        for db, spec in databases.items():
            tables = {}
            for name, table in spec.get("tables", {}).items():
                if table["format"] not in FORMATS:
                    raise ValueError(f"table {db}.{name}: format must be one of {sorted(FORMATS)}")
                for column in table["columns"]:
                    arrow_type(column["type"])
                tables[name] = Table(
                    name=name,
                    database=db,
                    location=table["location"],
                    format=table["format"],
                    columns=table["columns"],
                    header=table.get("header", True),
                    file_extension=table.get("file_extension", ""),
                )
            self.databases[db] = {"description": spec.get("description", ""), "tables": tables}

    def database_names(self) -> list:
        return sorted(self.databases)

    def database(self, name: str) -> dict:
        if name not in self.databases:
            raise not_found(f"Database {name} not found.")
        return self.databases[name]

    def tables(self, database: str) -> list:
        tables = self.database(database)["tables"]
        return [tables[name] for name in sorted(tables)]

    def table(self, database: str, name: str) -> Table:
        tables = self.database(database)["tables"]
        if name not in tables:
            raise not_found(f"Table {name} not found.")
        return tables[name]


def matching(tables: list, expression) -> list:
    """Glue's and Athena's `Expression`: a regular expression the whole name must match."""
    if not expression:
        return tables
    try:
        pattern = re.compile(expression.replace("*", ".*") if "*" in expression and ".*" not in expression else expression)
    except re.error:
        raise invalid(f"Expression {expression!r} is not a regular expression")
    return [t for t in tables if pattern.fullmatch(t.name)]
