"""Quilt Tabulator's catalog: one database per bucket, whose tables the registry's bucket
configuration defines (GraphQL `bucketConfig(name) { tabulatorTables { name config } }`, the
config being Tabulator's YAML). A table is the union of the files, inside the bucket's
packages, whose package name and logical key match the table's patterns; each row also
carries the package and the file it came from, and the patterns' named groups, as columns.

Packages and files are read as the caller (their manifests and data), so a caller who may not
read a bucket gets AccessDenied from S3, as with Glue tables. The registry is asked with the
stand-in's service token, as Quilt's Tabulator service asks it."""

import json
import re
import urllib.parse
import urllib.request

import yaml

from .catalog import Table

# Tabulator's column types → the Hive names the catalog reads with.
TYPES = {
    "BOOLEAN": "boolean", "TINYINT": "tinyint", "SMALLINT": "smallint", "INT": "int", "BIGINT": "bigint",
    "FLOAT": "float", "DOUBLE": "double", "STRING": "string", "DATE": "date", "TIMESTAMP": "timestamp",
}
# The columns Tabulator adds to every row.
PACKAGE_COLUMNS = ["$pkg_name", "$logical_key", "$physical_key", "$top_hash"]
QUERY = "query($name: String!) { bucketConfig(name: $name) { tabulatorTables { name config } } }"
BUCKETS = "{ bucketConfigs { name } }"


def python_pattern(pattern: str) -> re.Pattern:
    """Tabulator's patterns name groups as Java does, `(?<name>…)`; Python spells it `(?P<name>…)`."""
    return re.compile(re.sub(r"\(\?<(?![=!])", "(?P<", pattern))


class Tabulator:
    def __init__(self, settings: dict, config: dict):
        self.name = settings["catalog"]
        self.registry = settings["registry_url"].rstrip("/")
        self.token = settings["service_token"]
        self.s3_endpoint = config["s3_endpoint"]
        self.region = config["region"]

    def graphql(self, query: str, variables: dict) -> dict:
        request = urllib.request.Request(
            f"{self.registry}/graphql",
            data=json.dumps({"query": query, "variables": variables}).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.load(response)
        if answer.get("errors"):
            raise RuntimeError(f"the registry refused: {answer['errors']}")
        return answer["data"]

    def buckets(self, caller) -> list:
        return sorted(b["name"] for b in self.graphql(BUCKETS, {})["bucketConfigs"])

    def tables(self, caller, only=None) -> dict:
        out = {}
        for bucket in [only] if only else self.buckets(caller):
            config = self.graphql(QUERY, {"name": bucket})["bucketConfig"]
            if config is None:
                continue
            s3 = self.s3(caller)
            out[bucket] = [self.table(s3, bucket, t["name"], yaml.safe_load(t["config"])) for t in config["tabulatorTables"]]
        return out

    def table(self, s3, bucket: str, name: str, spec: dict) -> Table:
        package_pattern = python_pattern(spec["source"]["package_name"])
        key_pattern = python_pattern(spec["source"]["logical_key"])
        parser = spec.get("parser", {})
        kind = parser.get("format", "csv")
        if kind == "csv" and parser.get("delimiter") == "\t":
            kind = "tsv"
        groups = list(package_pattern.groupindex) + list(key_pattern.groupindex)
        files = []
        for package in self.packages(s3, bucket):
            matched = package_pattern.search(package)
            if not matched:
                continue
            top_hash, entries = self.manifest(s3, bucket, package)
            for entry in entries:
                key_match = key_pattern.search(entry["logical_key"])
                if not key_match:
                    continue
                physical = entry["physical_keys"][0].split("?", 1)[0]
                extra = {**matched.groupdict(), **key_match.groupdict()}
                extra.update({
                    "$pkg_name": package,
                    "$logical_key": entry["logical_key"],
                    "$physical_key": entry["physical_keys"][0],
                    "$top_hash": top_hash,
                })
                files.append((urllib.parse.unquote(physical), {k: ("" if v is None else v) for k, v in extra.items()}))
        return Table(
            name=name,
            database=bucket,
            location=f"s3://{bucket}/",
            format=kind,
            columns=[{"name": c["name"], "type": TYPES[c["type"].upper()]} for c in spec["schema"]],
            header=parser.get("header", True),
            files=files,
            extra_columns=[{"name": g, "type": "string"} for g in groups + PACKAGE_COLUMNS],
        )

    def s3(self, caller):
        return caller.s3(self.s3_endpoint, self.region)

    @staticmethod
    def packages(s3, bucket: str) -> list:
        names = []
        prefix = ".quilt/named_packages/"
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                rest = item["Key"][len(prefix):]
                if rest.endswith("/latest"):
                    names.append(rest[: -len("/latest")])
        return sorted(names)

    @staticmethod
    def manifest(s3, bucket: str, package: str):
        top_hash = s3.get_object(Bucket=bucket, Key=f".quilt/named_packages/{package}/latest")["Body"].read().decode().strip()
        body = s3.get_object(Bucket=bucket, Key=f".quilt/packages/{top_hash}")["Body"].read().decode()
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        return top_hash, [line for line in lines[1:] if line.get("physical_keys")]
