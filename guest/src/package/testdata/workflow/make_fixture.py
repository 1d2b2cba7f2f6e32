"""Regenerates this fixture with the real quilt3 (7.2.0, the project's tools venv) against a
SeaweedFS S3 endpoint (`make run` starts one):

    AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... AWS_ENDPOINT_URL=http://127.0.0.1:8333 \
        ~/.cache/quilt-mcp/tools/quilt3-7.2.0/bin/python make_fixture.py [bucket]

It writes a workflow config and two schemas into the bucket, pushes a package under the
`checked` workflow and saves what quilt3 wrote: manifest.jsonl, top_hash, and the config and
schemas (config.yml, metadata.schema.json, entries.schema.json) the guest's tests load.
"""
import json, pathlib, sys

import boto3
import quilt3

here = pathlib.Path(__file__).parent
bucket = sys.argv[1] if len(sys.argv) > 1 else "workflow-fixture"
s3 = boto3.client("s3")
try:
    s3.create_bucket(Bucket=bucket)
except s3.exceptions.BucketAlreadyOwnedByYou:
    pass
for name in ["config.yml", "metadata.schema.json", "entries.schema.json"]:
    key = name if name == "config.yml" else f"schemas/{name}"
    s3.put_object(Bucket=bucket, Key=f".quilt/workflows/{key}", Body=(here / name).read_bytes())
s3.put_object(Bucket=bucket, Key="src/README.md", Body=b"# Readme\n")
s3.put_object(Bucket=bucket, Key="src/data.csv", Body=b"a,b\n1,2\n")

package = quilt3.Package()
package.set("README.md", f"s3://{bucket}/src/README.md")
package.set("data.csv", f"s3://{bucket}/src/data.csv")
package.set_meta({"tissue": "liver", "samples": 3})
registry = f"s3://{bucket}"
pushed = package.push("team/checked", registry=registry, message="under a workflow",
                      workflow="checked", selector_fn=lambda k, e: False, force=True)
top_hash = pushed.top_hash
manifest = s3.get_object(Bucket=bucket, Key=f".quilt/packages/{top_hash}")["Body"].read()
(here / "manifest.jsonl").write_bytes(manifest)
(here / "top_hash").write_text(top_hash)
print(json.dumps({"top_hash": top_hash, "header": pushed._meta}))
