"""The HTTP front: AWS JSON 1.1 (`POST /`, `X-Amz-Target: AmazonAthena.<Op>` or
`AWSGlue.<Op>`), every request's caller proven by its signature before anything is read."""

import json
import sys
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .errors import ApiError

# Larger than any valid request (a query string is at most 256 KiB).
MAX_BODY = 1 << 20


def routes(athena, catalogs) -> dict:
    return {
        "AmazonAthena.StartQueryExecution": ("athena", athena.start),
        "AmazonAthena.GetQueryExecution": ("athena", athena.get),
        "AmazonAthena.GetQueryResults": ("athena", athena.results),
        "AmazonAthena.StopQueryExecution": ("athena", athena.stop),
        "AmazonAthena.GetWorkGroup": ("athena", athena.workgroup),
        "AmazonAthena.ListDataCatalogs": ("athena", catalogs.list_catalogs),
        "AmazonAthena.ListDatabases": ("athena", catalogs.list_databases),
        "AmazonAthena.ListTableMetadata": ("athena", catalogs.list_tables),
        "AmazonAthena.GetTableMetadata": ("athena", catalogs.get_table),
        "AWSGlue.GetDatabases": ("glue", catalogs.glue_databases),
        "AWSGlue.GetDatabase": ("glue", catalogs.glue_database),
        "AWSGlue.GetTables": ("glue", catalogs.glue_tables),
        "AWSGlue.GetTable": ("glue", catalogs.glue_table),
    }


def serve(host: str, port: int, verifier, athena, catalogs) -> None:
    table = routes(athena, catalogs)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            try:
                status, answer = self.handle_call()
            except ApiError as error:
                status, answer = error.status, error.body()
            except Exception as error:  # a bug answers 500 and the stand-in serves on
                status, answer = 500, {"__type": "InternalServerException", "Message": f"stand-in failure: {error}"}
            self.reply(status, answer)

        def handle_call(self):
            length = self.headers.get("content-length")
            if length is None or not length.isdigit() or int(length) > MAX_BODY:
                raise ApiError(400, "SerializationException", f"a request body of at most {MAX_BODY} bytes, with its Content-Length")
            body = self.rfile.read(int(length))
            for name in ("authorization", "x-amz-target", "x-amz-date", "x-amz-security-token", "host"):
                if len(self.headers.get_all(name) or []) > 1:
                    raise ApiError(400, "SerializationException", f"the {name} header appears more than once")
            target = self.headers.get("x-amz-target", "")
            if target not in table:
                raise ApiError(400, "UnknownOperationException", f"unknown operation {target[:100]!r}")
            service, operation = table[target]
            headers = {k.lower(): v for k, v in self.headers.items()}
            caller = verifier.caller("POST", self.path, headers, body, service)
            try:
                params = json.loads(body or b"{}")
                assert isinstance(params, dict)
            except (ValueError, AssertionError):
                raise ApiError(400, "SerializationException", "the body is not a JSON object")
            return 200, operation(caller, params)

        def reply(self, status: int, answer: dict) -> None:
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format, *args):
            sys.stderr.write("athena-standin: " + format % args + "\n")

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    # The harness reads the port from this line.
    print(f"listening on http://{host}:{server.server_address[1]}", flush=True)
    server.serve_forever()
