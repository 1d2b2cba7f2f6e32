"""Athena's query executions: started, run on a worker thread, kept in memory with their rows,
results written to the output location as `<id>.csv`, as the caller.

As in Athena, any signed-in caller may look up, stop or page any execution of the account by
its id; what keeps one caller from another's results is S3: GetQueryResults first reads the
results file as the caller, so the caller's credentials must reach it."""

import base64
import csv
import io
import json
import threading
import time
import uuid
from dataclasses import dataclass, field

from . import engine
from .catalog import GLUE_CATALOG
from .errors import ApiError, invalid
from .identity import Caller

MAX_QUERY_BYTES = 262144
MAX_RESULTS = 1000
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")


@dataclass
class Execution:
    id: str
    owner: str
    query: str
    database: str
    catalog: str
    workgroup: str
    output: str
    statement_type: str
    submitted: float
    state: str = "QUEUED"
    reason: str = ""
    completed: float = 0.0
    columns: list = field(default_factory=list)
    rows: list = field(default_factory=list)
    request_token: str = ""

    def shape(self) -> dict:
        status = {"State": self.state, "SubmissionDateTime": self.submitted}
        if self.reason:
            status["StateChangeReason"] = self.reason
        if self.state in TERMINAL:
            status["CompletionDateTime"] = self.completed
        if self.state == "FAILED":
            status["AthenaError"] = {"ErrorCategory": 2, "ErrorType": 1000, "Retryable": False, "ErrorMessage": self.reason}
        elapsed = int(((self.completed or time.time()) - self.submitted) * 1000)
        return {
            "QueryExecutionId": self.id,
            "Query": self.query,
            "StatementType": self.statement_type,
            "SubstatementType": self.query.split(None, 1)[0].upper() if self.query.split() else "",
            "ResultConfiguration": {"OutputLocation": self.output},
            "ResultReuseConfiguration": {"ResultReuseByAgeConfiguration": {"Enabled": False}},
            "QueryExecutionContext": {"Database": self.database, "Catalog": self.catalog},
            "Status": status,
            "Statistics": {
                "EngineExecutionTimeInMillis": elapsed,
                "TotalExecutionTimeInMillis": elapsed,
                "DataScannedInBytes": 0,
                "QueryQueueTimeInMillis": 0,
            },
            "WorkGroup": self.workgroup,
            "EngineVersion": {"SelectedEngineVersion": "AUTO", "EffectiveEngineVersion": "Athena engine version 3"},
        }


def statement_type(query: str) -> str:
    first = query.split(None, 1)[0].upper() if query.split() else ""
    if first in ("SHOW", "DESCRIBE", "EXPLAIN"):
        return "UTILITY"
    if first in ("CREATE", "DROP", "ALTER", "MSCK"):
        return "DDL"
    return "DML"


class Athena:
    def __init__(self, config: dict, catalogs):
        self.region = config["region"]
        self.s3_endpoint = config["s3_endpoint"]
        self.workgroups = config.get("workgroups", {"primary": {}})
        self.catalogs = catalogs
        self.executions = {}
        self.tokens = {}
        self.lock = threading.Lock()

    # StartQueryExecution
    def start(self, caller: Caller, body: dict) -> dict:
        query = body.get("QueryString")
        if not isinstance(query, str) or not query.strip():
            raise invalid("QueryString is required")
        if len(query.encode()) > MAX_QUERY_BYTES:
            raise ApiError(
                400, "ValidationException",
                f"1 validation error detected: Value at 'queryString' failed to satisfy constraint: Member must have length less than or equal to {MAX_QUERY_BYTES}",
            )
        workgroup = body.get("WorkGroup") or "primary"
        if workgroup not in self.workgroups:
            raise invalid(f"WorkGroup {workgroup} is not found.")
        settings = self.workgroups[workgroup]
        context = body.get("QueryExecutionContext") or {}
        catalog = context.get("Catalog") or GLUE_CATALOG
        database = context.get("Database") or "default"
        output = (body.get("ResultConfiguration") or {}).get("OutputLocation") or settings.get("output_location")
        if settings.get("enforce") or not output:
            output = settings.get("output_location")
        if not output:
            raise invalid("No output location provided. An output location is required either through the Workgroup result configuration setting or as an API input.")
        if not output.startswith("s3://"):
            raise invalid("OutputLocation must be an s3:// URI")
        token = body.get("ClientRequestToken") or ""
        with self.lock:
            if token and token in self.tokens:
                earlier = self.executions[self.tokens[token]]
                if (earlier.owner, earlier.query) != (caller.subject, query):
                    raise invalid("Idempotent parameters do not match", "IDEMPOTENT_PARAMETER_MISMATCH")
                return {"QueryExecutionId": earlier.id}
        try:
            engine.parse_check(query)
        except engine.Malformed as error:
            raise invalid(f"line 1:1: {error}", "MALFORMED_QUERY")
        tables = self.catalogs.tables_for(catalog, caller, database)
        execution = Execution(
            id=str(uuid.uuid4()),
            owner=caller.subject,
            query=query,
            database=database,
            catalog=catalog,
            workgroup=workgroup,
            output=f"{output.rstrip('/')}/",
            statement_type=statement_type(query),
            submitted=time.time(),
            request_token=token,
        )
        execution.output += f"{execution.id}.csv" if execution.statement_type == "DML" else f"{execution.id}.txt"
        with self.lock:
            self.executions[execution.id] = execution
            if token:
                self.tokens[token] = execution.id
        minimum = settings.get("min_running_ms", 0) / 1000
        threading.Thread(target=self.run, args=(execution, tables, caller, minimum), daemon=True).start()
        return {"QueryExecutionId": execution.id}

    def run(self, execution: Execution, tables, caller: Caller, minimum: float) -> None:
        execution.state = "RUNNING"
        try:
            columns, rows = engine.run(execution.query, execution.database, tables(), caller, self.s3_endpoint, self.region)
            self.write_results(execution, caller, columns, rows)
            execution.columns, execution.rows = columns, rows
            outcome, reason = "SUCCEEDED", ""
        except engine.QueryFailed as error:
            outcome, reason = "FAILED", str(error)
        except ApiError as error:
            outcome, reason = "FAILED", error.message
        except Exception as error:  # S3's refusals and the engine's failures end the query, never the stand-in
            outcome, reason = "FAILED", str(engine.failure(str(error)))
        remaining = execution.submitted + minimum - time.time()
        if remaining > 0:
            time.sleep(remaining)
        with self.lock:
            if execution.state != "CANCELLED":
                execution.state, execution.reason = outcome, reason
                execution.completed = time.time()

    def write_results(self, execution: Execution, caller: Caller, columns: list, rows: list) -> None:
        out = io.StringIO()
        if execution.statement_type == "DML":
            writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
            writer.writerow([c["Name"] for c in columns])
            for row in rows:
                out.write(",".join("" if v is None else '"' + v.replace('"', '""') + '"' for v in row) + "\n")
        else:
            for row in rows:
                out.write("\t".join("" if v is None else v for v in row) + "\n")
        bucket, _, key = execution.output[len("s3://"):].partition("/")
        s3 = caller.s3(self.s3_endpoint, self.region)
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=out.getvalue().encode())
            s3.put_object(Bucket=bucket, Key=key + ".metadata", Body=b"")
        except Exception as error:
            raise engine.QueryFailed("PERMISSION_DENIED", f"Access denied when writing output to url: {execution.output} ({error})")

    def find(self, body: dict) -> Execution:
        query_id = body.get("QueryExecutionId")
        with self.lock:
            execution = self.executions.get(query_id) if isinstance(query_id, str) else None
        if execution is None:
            raise invalid(f"QueryExecution {query_id} was not found", "INVALID_INPUT")
        return execution

    def readable(self, execution: Execution, caller: Caller) -> None:
        """Athena reads results from S3 with the caller's credentials: so does this."""
        bucket, _, key = execution.output[len("s3://"):].partition("/")
        try:
            caller.s3(self.s3_endpoint, self.region).head_object(Bucket=bucket, Key=key)
        except Exception as error:
            code = getattr(error, "response", {}).get("Error", {}).get("Code", "Unknown")
            raise invalid(
                f"Access denied when reading query results at {execution.output} "
                f"(Service: Amazon S3; Error Code: {code})"
            )

    # GetQueryExecution
    def get(self, caller: Caller, body: dict) -> dict:
        return {"QueryExecution": self.find(body).shape()}

    # StopQueryExecution
    def stop(self, caller: Caller, body: dict) -> dict:
        execution = self.find(body)
        with self.lock:
            if execution.state not in TERMINAL:
                execution.state, execution.completed = "CANCELLED", time.time()
                execution.reason = "Query was cancelled by user"
        return {}

    # GetQueryResults
    def results(self, caller: Caller, body: dict) -> dict:
        execution = self.find(body)
        if execution.state != "SUCCEEDED":
            raise invalid(f"Query has not yet finished. Current state: {execution.state}")
        self.readable(execution, caller)
        limit = body.get("MaxResults", MAX_RESULTS)
        if not isinstance(limit, int) or not 1 <= limit <= MAX_RESULTS:
            raise invalid(f"MaxResults must be between 1 and {MAX_RESULTS}")
        offset = 0
        if body.get("NextToken"):
            offset = self.offset(execution, body["NextToken"])
        header = execution.statement_type == "DML"
        lines = ([[c["Name"] for c in execution.columns]] if header else []) + execution.rows
        page = lines[offset:offset + limit]
        answer = {
            "UpdateCount": 0,
            "ResultSet": {
                "Rows": [{"Data": [{} if v is None else {"VarCharValue": v} for v in row]} for row in page],
                "ResultSetMetadata": {"ColumnInfo": execution.columns},
            },
        }
        if offset + limit < len(lines):
            answer["NextToken"] = base64.urlsafe_b64encode(json.dumps([execution.id, offset + limit]).encode()).decode()
        return answer

    @staticmethod
    def offset(execution: Execution, token) -> int:
        try:
            query_id, offset = json.loads(base64.urlsafe_b64decode(token.encode()))
            assert query_id == execution.id and isinstance(offset, int) and offset >= 0
            return offset
        except Exception:
            raise invalid("NextToken is not one this query's results gave", "INVALID_NEXT_TOKEN")

    # GetWorkGroup
    def workgroup(self, caller: Caller, body: dict) -> dict:
        name = body.get("WorkGroup")
        if name not in self.workgroups:
            raise invalid(f"WorkGroup {name} is not found.")
        settings = self.workgroups[name]
        return {"WorkGroup": {
            "Name": name,
            "State": "ENABLED",
            "Configuration": {
                "ResultConfiguration": {"OutputLocation": settings.get("output_location", "")},
                "EnforceWorkGroupConfiguration": bool(settings.get("enforce")),
            },
            "CreationTime": 0,
        }}
