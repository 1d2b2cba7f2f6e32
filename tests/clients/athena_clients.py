"""The Athena stand-in as boto3 and pyathena see it: each check prints one JSON line that the
end-to-end trial (tests/tests/e2e/sql.rs) asserts on.

Usage: athena_clients.py ENDPOINT REGION CREDENTIALS_JSON OUTPUT_LOCATION
(CREDENTIALS_JSON: {"ak", "sk", "st"} of the caller, "other" with another caller's)."""

import json
import sys
import time
import uuid

import boto3
import botocore
from pyathena import connect

endpoint, region, credentials, output = sys.argv[1:5]
creds = json.loads(credentials)


def client(service, who=creds):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=who["ak"],
        aws_secret_access_key=who["sk"],
        aws_session_token=who["st"],
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )


def say(check, **facts):
    print(json.dumps({"check": check, **facts}), flush=True)


def error_code(call):
    try:
        call()
    except botocore.exceptions.ClientError as error:
        return error.response["Error"]["Code"]
    return None


athena, glue = client("athena"), client("glue")
say("catalogs", names=[c["CatalogName"] for c in athena.list_data_catalogs()["DataCatalogsSummary"]])
say("databases", names=[d["Name"] for d in athena.list_databases(CatalogName="AwsDataCatalog")["DatabaseList"]])
tables = athena.list_table_metadata(CatalogName="AwsDataCatalog", DatabaseName="lake")["TableMetadataList"]
say("tables", names=[t["Name"] for t in tables], columns={t["Name"]: [c["Name"] for c in t["Columns"]] for t in tables})
glue_table = glue.get_table(DatabaseName="lake", Name="samples")["Table"]
say("glue_table", location=glue_table["StorageDescriptor"]["Location"], columns=[c["Name"] for c in glue_table["StorageDescriptor"]["Columns"]])
say("glue_databases", names=[d["Name"] for d in glue.get_databases()["DatabaseList"]])
say("missing_table", code=error_code(lambda: glue.get_table(DatabaseName="lake", Name="nope")))

# boto3: start, poll, page through the results two rows at a time.
started = athena.start_query_execution(
    QueryString="SELECT tissue, sum(reads) AS total FROM samples GROUP BY tissue ORDER BY tissue",
    QueryExecutionContext={"Database": "lake"},
    ResultConfiguration={"OutputLocation": output},
)
query_id = started["QueryExecutionId"]
while True:
    state = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
    if state["Status"]["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
        break
    time.sleep(0.1)
pages, token = [], None
while True:
    page = athena.get_query_results(QueryExecutionId=query_id, MaxResults=2, **({"NextToken": token} if token else {}))
    pages.append([[d.get("VarCharValue") for d in r["Data"]] for r in page["ResultSet"]["Rows"]])
    token = page.get("NextToken")
    if not token:
        break
say("boto3_query", state=state["Status"]["State"], output=state["ResultConfiguration"]["OutputLocation"],
    types=[c["Type"] for c in page["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]], pages=pages)
say("malformed", code=error_code(lambda: athena.start_query_execution(QueryString="SELEC 1", ResultConfiguration={"OutputLocation": output})))
say("too_many_results", code=error_code(lambda: athena.get_query_results(QueryExecutionId=query_id, MaxResults=1001)))
if "other" in creds:
    other = client("athena", creds["other"])
    # As in Athena, an id is found by any caller of the account; S3 guards the results.
    say("other_callers_query", code=error_code(lambda: other.get_query_execution(QueryExecutionId=query_id)))
    say("no_such_query", code=error_code(lambda: other.get_query_execution(QueryExecutionId=str(uuid.uuid4()))))
unsigned = boto3.client("athena", endpoint_url=endpoint, region_name=region, config=botocore.config.Config(signature_version=botocore.UNSIGNED))
say("unsigned", code=error_code(lambda: unsigned.list_data_catalogs()))
forged = dict(creds, sk="A" * 44)
say("forged_secret", code=error_code(lambda: client("athena", forged).list_data_catalogs()))

# pyathena's DB-API cursor, unmodified.
cursor = connect(s3_staging_dir=output, region_name=region, schema_name="lake", endpoint_url=endpoint,
                 aws_access_key_id=creds["ak"], aws_secret_access_key=creds["sk"], aws_session_token=creds["st"]).cursor()
cursor.execute("SELECT tissue, reads FROM samples WHERE reads > 2 ORDER BY reads")
say("pyathena", description=[[d[0], d[1]] for d in cursor.description], rows=[list(r) for r in cursor.fetchall()])
try:
    cursor.execute("SELECT * FROM secrets")
    say("pyathena_denied", error=None)

except Exception as error:
    say("pyathena_denied", error=type(error).__name__, message=str(error)[:300])
