//! STS for web identities in SeaweedFS (`-s3.iam.config`): an OIDC provider trusting the test
//! issuer's JWKS, and per reader a role that may list and read one bucket, assumable only by
//! tokens with that reader's `sub`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use serde_json::{Value, json};

/// The provider's name, which trust policies name as their federated principal.
const PROVIDER: &str = "quilt-mcp-test-oidc";

/// A role `subject` may assume, granting list and read on `bucket` only.
#[derive(Clone)]
pub struct BucketReader {
    pub role_name: String,
    pub subject: String,
    pub bucket: String,
}

impl BucketReader {
    pub fn role_arn(&self) -> String {
        role_arn(&self.role_name)
    }
}

/// The ARN SeaweedFS gives a role of this name.
pub fn role_arn(role_name: &str) -> String {
    format!("arn:aws:iam::role/{role_name}")
}

/// Whose tokens STS accepts (SeaweedFS requires `iss` and `aud` to match exactly) and for which roles.
pub struct WebIdentityTrust {
    pub issuer: String,
    pub audience: String,
    pub jwks_url: String,
    pub readers: Vec<BucketReader>,
}

impl WebIdentityTrust {
    /// The `-s3.iam.config` document.
    pub fn iam_config(&self) -> Value {
        let mut signing_key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut signing_key);
        json!({
            "sts": {
                "tokenDuration": "1h",
                "maxSessionLength": "12h",
                "issuer": "quilt-mcp-test-sts",
                "signingKey": STANDARD.encode(signing_key),
            },
            "providers": [{
                "name": PROVIDER,
                "type": "oidc",
                "enabled": true,
                "config": {"issuer": self.issuer, "clientId": self.audience, "jwksUri": self.jwks_url},
            }],
            "policy": {"defaultEffect": "Deny", "storeType": "memory"},
            "roles": self.readers.iter().map(role).collect::<Vec<_>>(),
            "policies": self.readers.iter().map(read_policy).collect::<Vec<_>>(),
        })
    }
}

fn role(reader: &BucketReader) -> Value {
    json!({
        "roleName": reader.role_name,
        "roleArn": reader.role_arn(),
        "trustPolicy": {
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Federated": PROVIDER},
                "Action": ["sts:AssumeRoleWithWebIdentity"],
                "Condition": {"StringEquals": {"oidc:sub": reader.subject}},
            }],
        },
        "attachedPolicies": [policy_name(reader)],
    })
}

/// List and read on the reader's bucket; `sts:ValidateSession` lets the issued session keys work at all.
fn read_policy(reader: &BucketReader) -> Value {
    let bucket = &reader.bucket;
    json!({
        "name": policy_name(reader),
        "document": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:ListBucketVersions"],
                    "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")],
                },
                {"Effect": "Allow", "Action": ["sts:ValidateSession"], "Resource": ["*"]},
            ],
        },
    })
}

fn policy_name(reader: &BucketReader) -> String {
    format!("{}-bucket-access", reader.role_name)
}

/// Widens `reader`'s role in an [`WebIdentityTrust::iam_config`] document to writing and
/// deleting in its bucket too (the dev stack's users create packages).
pub fn allow_writes(iam: &mut Value, reader: &BucketReader) {
    let name = policy_name(reader);
    let policies = iam["policies"].as_array_mut().into_iter().flatten();
    for policy in policies.filter(|policy| policy["name"] == name.as_str()) {
        if let Some(actions) = policy["document"]["Statement"][0]["Action"].as_array_mut() {
            actions.extend(["s3:PutObject", "s3:DeleteObject"].map(Value::from));
        }
    }
}

/// Lets `reader`'s role write and read under `bucket/prefix` too (where Athena puts the
/// results of the reader's queries).
pub fn allow_results(iam: &mut Value, reader: &BucketReader, bucket: &str, prefix: &str) {
    let name = policy_name(reader);
    let policies = iam["policies"].as_array_mut().into_iter().flatten();
    for policy in policies.filter(|policy| policy["name"] == name.as_str()) {
        if let Some(statements) = policy["document"]["Statement"].as_array_mut() {
            statements.push(json!({
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:GetObject", "s3:ListBucket"],
                "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/{prefix}*")],
            }));
        }
    }
}

/// The temporary keys SeaweedFS's STS issues for `token` as `role_arn`, as
/// `{"ak", "sk", "st"}` (what the SQL trials and bench hand to boto3).
pub async fn assume_role(sts_endpoint: &str, role_arn: &str, token: &str) -> anyhow::Result<Value> {
    use anyhow::Context;
    let form = [
        ("Action", "AssumeRoleWithWebIdentity"),
        ("Version", "2011-06-15"),
        ("RoleArn", role_arn),
        ("RoleSessionName", "quilt-mcp-tests"),
        ("WebIdentityToken", token),
    ];
    let url = format!("{}/", sts_endpoint.trim_end_matches('/'));
    let body = reqwest::Client::new()
        .post(url)
        .form(&form)
        .send()
        .await?
        .text()
        .await?;
    let field = |name: &str| -> anyhow::Result<String> {
        let open = format!("<{name}>");
        let start = body
            .find(&open)
            .with_context(|| format!("no {name} in {body}"))?
            + open.len();
        let end = body[start..]
            .find(&format!("</{name}>"))
            .context("unterminated")?
            + start;
        Ok(body[start..end].to_owned())
    };
    Ok(
        json!({"ak": field("AccessKeyId")?, "sk": field("SecretAccessKey")?, "st": field("SessionToken")?}),
    )
}
