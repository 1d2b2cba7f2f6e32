"""The data catalogs Athena queries, and the metadata calls of Athena and Glue over them.

`AwsDataCatalog` is the Glue catalog of the configuration; a Tabulator catalog, when
configured, holds one database per bucket whose tables the registry's bucket configuration
defines (see tabulator.py)."""

import base64
import json

from .catalog import GLUE_CATALOG, GlueCatalog, matching
from .errors import ApiError, invalid, not_found

PAGE = 50


class Catalogs:
    def __init__(self, glue: GlueCatalog, tabulator=None):
        self.glue = glue
        self.tabulator = tabulator

    def names(self) -> list:
        return [GLUE_CATALOG] + ([self.tabulator.name] if self.tabulator else [])

    def is_glue(self, name: str) -> bool:
        return name.lower() == GLUE_CATALOG.lower()

    def tables_for(self, catalog: str, caller, database: str):
        """A function giving {database: [Table]} for a query in `catalog`, run when the query
        does: every Glue database, or the Tabulator tables of the query's bucket (`database`),
        whose packages are read as the caller."""
        if self.is_glue(catalog):
            return lambda: {db: self.glue.tables(db) for db in self.glue.database_names()}
        if self.tabulator and catalog == self.tabulator.name:
            return lambda: self.tabulator.tables(caller, only=database)
        raise invalid(f"Catalog {catalog} does not exist", "CATALOG_NOT_FOUND")

    # Athena: ListDataCatalogs
    def list_catalogs(self, caller, body: dict) -> dict:
        kinds = {GLUE_CATALOG: "GLUE"}
        return {"DataCatalogsSummary": [{"CatalogName": n, "Type": kinds.get(n, "LAMBDA")} for n in self.names()]}

    def databases(self, catalog: str, caller) -> list:
        if self.is_glue(catalog):
            return [(db, self.glue.database(db)["description"]) for db in self.glue.database_names()]
        if self.tabulator and catalog == self.tabulator.name:
            return [(bucket, "") for bucket in self.tabulator.buckets(caller)]
        raise metadata_error(f"Catalog {catalog} does not exist", "EntityNotFoundException")

    def tables(self, catalog: str, database: str, caller) -> list:
        if self.is_glue(catalog):
            return self.glue.tables(database)
        if self.tabulator and catalog == self.tabulator.name:
            return self.tabulator.tables(caller, only=database).get(database, [])
        raise metadata_error(f"Catalog {catalog} does not exist", "EntityNotFoundException")

    # Athena: ListDatabases
    def list_databases(self, caller, body: dict) -> dict:
        found = self.databases(required(body, "CatalogName"), caller)
        page, token = paged(found, body, PAGE)
        answer = {"DatabaseList": [{"Name": n, "Description": d, "Parameters": {}} for n, d in page]}
        return with_token(answer, token)

    # Athena: ListTableMetadata
    def list_tables(self, caller, body: dict) -> dict:
        try:
            tables = self.tables(required(body, "CatalogName"), required(body, "DatabaseName"), caller)
        except ApiError as error:
            raise as_metadata(error)
        page, token = paged(matching(tables, body.get("Expression")), body, PAGE)
        return with_token({"TableMetadataList": [t.athena() for t in page]}, token)

    # Athena: GetTableMetadata
    def get_table(self, caller, body: dict) -> dict:
        name = required(body, "TableName")
        try:
            tables = self.tables(required(body, "CatalogName"), required(body, "DatabaseName"), caller)
        except ApiError as error:
            raise as_metadata(error)
        for table in tables:
            if table.name == name:
                return {"TableMetadata": table.athena()}
        raise metadata_error(f"Table {name} not found.", "EntityNotFoundException")

    # Glue: GetDatabases, GetDatabase, GetTables, GetTable
    def glue_databases(self, caller, body: dict) -> dict:
        names = self.glue.database_names()
        page, token = paged(names, body, 100)
        return with_token({"DatabaseList": [self.glue_database_shape(n) for n in page]}, token)

    def glue_database(self, caller, body: dict) -> dict:
        name = required(body, "Name")
        self.glue.database(name)
        return {"Database": self.glue_database_shape(name)}

    def glue_database_shape(self, name: str) -> dict:
        return {"Name": name, "Description": self.glue.database(name)["description"], "Parameters": {}, "CreateTime": 0}

    def glue_tables(self, caller, body: dict) -> dict:
        tables = matching(self.glue.tables(required(body, "DatabaseName")), body.get("Expression"))
        page, token = paged(tables, body, 100)
        return with_token({"TableList": [t.glue() for t in page]}, token)

    def glue_table(self, caller, body: dict) -> dict:
        return {"Table": self.glue.table(required(body, "DatabaseName"), required(body, "Name")).glue()}


def required(body: dict, name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise ApiError(400, "InvalidRequestException", f"{name} is required")
    return value


def paged(items: list, body: dict, most: int):
    """One page of `items` from the request's NextToken, and the token of the next."""
    limit = body.get("MaxResults") or most
    if not isinstance(limit, int) or not 1 <= limit <= most:
        raise invalid(f"MaxResults must be between 1 and {most}")
    start = 0
    if body.get("NextToken"):
        try:
            start = json.loads(base64.urlsafe_b64decode(str(body["NextToken"]).encode()))
            assert isinstance(start, int) and start >= 0
        except Exception:
            raise invalid("NextToken is not one this listing gave", "INVALID_NEXT_TOKEN")
    end = start + limit
    token = base64.urlsafe_b64encode(json.dumps(end).encode()).decode() if end < len(items) else None
    return items[start:end], token


def with_token(answer: dict, token):
    if token:
        answer["NextToken"] = token
    return answer


def metadata_error(message: str, glue_code: str) -> ApiError:
    """Athena reports a Glue failure as MetadataException, naming Glue's error at the end."""
    return ApiError(
        400, "MetadataException",
        f"{message} (Service: AmazonDataCatalog; Status Code: 400; Error Code: {glue_code}; Request ID: standin)",
    )


def as_metadata(error: ApiError) -> ApiError:
    if error.kind == "EntityNotFoundException":
        return metadata_error(error.message, error.kind)
    return error
