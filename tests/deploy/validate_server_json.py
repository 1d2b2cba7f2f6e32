"""Validates deploy/server.json against the MCP Registry's server.json schema.

The schema is the registry's own (modelcontextprotocol/registry,
internal/validators/schemas/2025-12-11.json), copied here as server.schema.json since the
tests reach no other site; the registry's further rules for OCI packages are checked by
tests/tests/e2e/deploy.rs.

usage: validate_server_json.py SERVER_JSON
"""

import json
import pathlib
import sys

import jsonschema

SCHEMA = pathlib.Path(__file__).with_name("server.schema.json")


def main(path: str) -> None:
    schema = json.loads(SCHEMA.read_text())
    server = json.loads(pathlib.Path(path).read_text())
    if server.get("$schema") != schema["$id"]:
        sys.exit(f"$schema should be {schema['$id']}, the schema checked here")
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(server), key=lambda error: list(error.absolute_path))
    for error in errors:
        where = ".".join(str(part) for part in error.absolute_path) or "(top)"
        print(f"{path}: {where}: {error.message}", file=sys.stderr)
    if errors:
        sys.exit(1)


if __name__ == "__main__":
    main(*sys.argv[1:])
