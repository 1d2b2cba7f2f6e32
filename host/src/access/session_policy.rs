//! The IAM session policy that web-identity credentials carry, so what a request may do is
//! enforced by S3 itself and not only by which tools are listed: credentials handed to a
//! read-only request cannot write, even through a presigned URL built from them.
//!
//! STS intersects a session policy with the role's own policies, so it can only take away.
//! Actions are named by wildcards that cover both AWS's names and SeaweedFS's (which checks
//! multipart steps as separate actions).

use quilt_mcp_policy::tools::Permission;
use serde_json::json;

use super::Permissions;

/// What one request's AWS credentials may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPolicy {
    permissions: Permissions,
    bucket: Option<String>,
    sql: Option<SqlAccess>,
}

/// What running SQL adds to a request's policy (see [`SessionPolicy::with_sql`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlAccess {
    /// Workgroups queries may start in (a workgroup sets a query's limits and costs).
    pub workgroups: Vec<String>,
    /// Where Athena writes this caller's results, when the deployment names a location.
    pub results: Option<ResultsAccess>,
    /// Whether a Tabulator catalog is queried: Athena runs its connector (a Lambda
    /// function) as the caller.
    pub tabulator: bool,
    /// Whether statements other than queries may run: CREATE TABLE AS, INSERT and the like
    /// change Glue's tables.
    pub writes: bool,
}

/// This caller's own place for query results, under the deployment's location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultsAccess {
    pub bucket: String,
    /// Where every caller's own place lies.
    pub callers_prefix: String,
    pub own_prefix: String,
}

impl SessionPolicy {
    pub fn new(permissions: Permissions, bucket: Option<&str>) -> Self {
        Self {
            permissions,
            bucket: bucket.map(str::to_owned),
            sql: None,
        }
    }

    /// The same, able to run SQL: Athena's query calls in the allowed workgroups, its and
    /// Glue's metadata reads, and S3 writes and reads under the caller's own results prefix,
    /// where Athena puts each query's results as the caller. Tables are read with the S3
    /// reads the policy already allows; those reach other callers' results places too where
    /// the role may read them (no exception can be written that SeaweedFS's STS accepts), so
    /// the tools refuse those places themselves.
    pub fn with_sql(self, sql: SqlAccess) -> Self {
        Self {
            sql: Some(sql),
            ..self
        }
    }

    /// The role's own rights, unnarrowed.
    pub fn unrestricted() -> Self {
        Self::new(Permissions::all(), None)
    }

    /// Whether the request may use AWS at all: one that can call no tool needing a
    /// permission gets no credentials.
    pub fn allows_nothing(&self) -> bool {
        self.permissions.is_empty()
    }

    /// What tells this policy apart from others, for caches of what was issued under it.
    pub fn key(&self) -> String {
        format!("{self:?}")
    }

    /// The policy document for `AssumeRoleWithWebIdentity`'s `Policy`, for ARNs of
    /// `partition`. Always one, even for a request that may do everything: then it still
    /// allows only what the tools do (objects, not bucket settings or other services), so keys
    /// a guest hands out can do no more than the tools could.
    pub fn document(&self, partition: &str) -> String {
        let arn = |path: &str| format!("arn:{partition}:s3:::{path}");
        let bucket = self.bucket.as_deref().unwrap_or("*");
        let (buckets, objects) = (arn(bucket), arn(&format!("{bucket}/*")));
        // Package deletion removes revision pointers only, and moves `latest` back.
        let pointers = arn(&format!("{bucket}/.quilt/named_packages/*"));
        let latest = arn(&format!("{bucket}/.quilt/named_packages/*/latest"));
        let allow = |actions: &[&str], resources: &[&str]| json!({"Effect": "Allow", "Action": actions, "Resource": resources});
        // Every tool reads what it changes (a package update reads the previous manifest).
        let mut statements = vec![allow(&["s3:Get*", "s3:List*"], &[&buckets, &objects])];
        let mut kms = vec!["kms:Decrypt"];
        if self.permissions.contains(Permission::Write) {
            statements.push(allow(
                &["s3:PutObject", "s3:*MultipartUpload*", "s3:UploadPart*"],
                &[&objects],
            ));
            kms.push("kms:GenerateDataKey");
        }
        if self.permissions.contains(Permission::Delete) {
            statements.push(allow(&["s3:DeleteObject"], &[&pointers]));
            if !self.permissions.contains(Permission::Write) {
                statements.push(allow(&["s3:PutObject"], &[&latest]));
                kms.push("kms:GenerateDataKey");
            }
        }
        if let Some(sql) = &self.sql {
            statements.extend(sql.statements(partition));
            if sql.results.is_some() {
                kms.push("kms:GenerateDataKey");
            }
        }
        kms.dedup();
        // Objects encrypted with KMS need their key, through S3 only.
        statements.push(json!({
            "Effect": "Allow",
            "Action": kms,
            "Resource": "*",
            "Condition": {"StringLike": {"kms:ViaService": "s3.*"}},
        }));
        json!({"Version": "2012-10-17", "Statement": statements}).to_string()
    }
}

impl ResultsAccess {
    /// The caller's own place, as Athena's `OutputLocation`.
    pub fn own_location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.own_prefix)
    }

    /// Where every caller's own place lies, as an `s3://` location.
    pub fn callers_location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.callers_prefix)
    }
}

impl SqlAccess {
    /// Exact actions, so that credentials able to run SQL reach no other part of Athena or
    /// Glue (no query history of the workgroup, no Glue connections and their passwords).
    fn statements(&self, partition: &str) -> Vec<serde_json::Value> {
        let allow = |actions: &[&str], resources: &[String]| json!({"Effect": "Allow", "Action": actions, "Resource": resources});
        let workgroups: Vec<String> = self
            .workgroups
            .iter()
            .map(|name| format!("arn:{partition}:athena:*:*:workgroup/{name}"))
            .collect();
        let everything = ["*".to_owned()];
        let mut statements = vec![
            allow(
                &[
                    "athena:StartQueryExecution",
                    "athena:GetQueryExecution",
                    "athena:GetQueryResults",
                ],
                &workgroups,
            ),
            allow(
                &[
                    "athena:ListDataCatalogs",
                    "athena:GetDataCatalog",
                    "athena:ListDatabases",
                    "athena:GetDatabase",
                    "athena:ListTableMetadata",
                    "athena:GetTableMetadata",
                    "glue:GetDatabase",
                    "glue:GetDatabases",
                    "glue:GetTable",
                    "glue:GetTables",
                    "glue:GetPartition",
                    "glue:GetPartitions",
                    "glue:BatchGetPartition",
                ],
                &everything,
            ),
        ];
        if self.tabulator {
            let connectors = [format!("arn:{partition}:lambda:*:*:function:*")];
            statements.push(allow(&["lambda:InvokeFunction"], &connectors));
        }
        if self.writes {
            statements.push(allow(
                &[
                    "glue:CreateTable",
                    "glue:UpdateTable",
                    "glue:DeleteTable",
                    "glue:CreatePartition",
                    "glue:BatchCreatePartition",
                    "glue:DeletePartition",
                    "glue:BatchDeletePartition",
                ],
                &everything,
            ));
        }
        if let Some(results) = &self.results {
            let arn = |path: &str| format!("arn:{partition}:s3:::{path}");
            let own = [
                arn(&results.bucket),
                arn(&format!("{}/{}*", results.bucket, results.own_prefix)),
            ];
            statements.push(allow(
                &["s3:PutObject", "s3:GetObject", "s3:GetBucketLocation"],
                &own,
            ));
        }
        statements
    }
}

/// The ARN partition of an AWS region (by its documented prefixes; others are `aws`).
pub fn partition(region: &str) -> &'static str {
    const PARTITIONS: [(&str, &str); 6] = [
        ("cn-", "aws-cn"),
        ("us-gov-", "aws-us-gov"),
        ("us-isob-", "aws-iso-b"),
        ("us-isof-", "aws-iso-f"),
        ("us-iso-", "aws-iso"),
        ("eu-isoe-", "aws-iso-e"),
    ];
    PARTITIONS
        .iter()
        .find(|(prefix, _)| region.starts_with(prefix))
        .map_or("aws", |(_, partition)| partition)
}

#[cfg(test)]
mod tests {
    use quilt_mcp_policy::tools::Permission;
    use serde_json::{Value, json};

    use super::{ResultsAccess, SessionPolicy, SqlAccess, partition};
    use crate::access::Permissions;

    fn statements(policy: &SessionPolicy) -> Vec<Value> {
        let document: Value = serde_json::from_str(&policy.document("aws")).unwrap();
        document["Statement"].as_array().unwrap().clone()
    }

    fn actions(policy: &SessionPolicy) -> Vec<String> {
        statements(policy)
            .iter()
            .flat_map(|s| s["Action"].as_array().unwrap().clone())
            .map(|a| a.as_str().unwrap().to_owned())
            .collect()
    }

    fn of(permissions: &[Permission], bucket: Option<&str>) -> SessionPolicy {
        SessionPolicy::new(permissions.iter().copied().collect(), bucket)
    }

    #[test]
    fn even_every_permission_is_only_what_the_tools_do() {
        let all = actions(&SessionPolicy::unrestricted());
        assert_eq!(
            all,
            [
                "s3:Get*",
                "s3:List*",
                "s3:PutObject",
                "s3:*MultipartUpload*",
                "s3:UploadPart*",
                "s3:DeleteObject",
                "kms:Decrypt",
                "kms:GenerateDataKey"
            ]
        );
        assert!(!SessionPolicy::unrestricted().allows_nothing());
        assert!(SessionPolicy::new(Permissions::none(), None).allows_nothing());
    }

    fn sql(results: Option<(&str, &str)>) -> SqlAccess {
        SqlAccess {
            workgroups: vec!["primary".into()],
            results: results.map(|(bucket, own)| ResultsAccess {
                bucket: bucket.into(),
                callers_prefix: "athena/callers/".into(),
                own_prefix: own.into(),
            }),
            tabulator: false,
            writes: false,
        }
    }

    fn with_action<'a>(statements: &'a [Value], action: &str) -> Vec<&'a Value> {
        statements
            .iter()
            .filter(|s| s["Action"].as_array().unwrap().contains(&json!(action)))
            .collect()
    }

    #[test]
    fn sql_adds_exact_athena_and_glue_reads_and_the_callers_results_only() {
        let read = of(&[Permission::Read], Some("raw"));
        assert_ne!(
            read.clone().with_sql(sql(None)),
            read,
            "SQL is part of what tells policies apart"
        );
        let policy = read.with_sql(sql(Some(("results", "athena/callers/a/"))));
        let statements = statements(&policy);
        let start = with_action(&statements, "athena:StartQueryExecution");
        assert_eq!(
            start[0]["Resource"],
            json!(["arn:aws:athena:*:*:workgroup/primary"])
        );
        let all = actions(&policy);
        for never in [
            "athena:ListQueryExecutions",
            // The tools never stop a query; a caller holding another's id could.
            "athena:StopQueryExecution",
            "glue:GetConnection",
            "glue:CreateTable",
            "lambda:InvokeFunction",
        ] {
            assert!(!all.iter().any(|a| a == never), "{never}");
        }
        assert!(
            all.iter().all(|a| !a.contains('*') || a.starts_with("s3:")),
            "{all:?}"
        );
        let puts = with_action(&statements, "s3:PutObject");
        assert_eq!(
            puts.len(),
            1,
            "a read-only request writes only its query results"
        );
        assert_eq!(
            puts[0]["Resource"],
            json!([
                "arn:aws:s3:::results",
                "arn:aws:s3:::results/athena/callers/a/*"
            ])
        );
    }

    #[test]
    fn tabulator_and_sql_writes_add_their_own_actions() {
        let policy = of(&[Permission::Read, Permission::Write], None).with_sql(SqlAccess {
            tabulator: true,
            writes: true,
            ..sql(None)
        });
        let all = actions(&policy);
        assert!(all.iter().any(|a| a == "lambda:InvokeFunction"), "{all:?}");
        assert!(all.iter().any(|a| a == "glue:CreateTable"), "{all:?}");
    }

    #[test]
    fn deleting_removes_and_moves_package_pointers_only() {
        let delete = of(&[Permission::Read, Permission::Delete], None);
        let removes: Vec<Value> = statements(&delete)
            .into_iter()
            .filter(|s| s["Action"] == json!(["s3:DeleteObject"]))
            .collect();
        assert_eq!(
            removes[0]["Resource"],
            json!(["arn:aws:s3:::*/.quilt/named_packages/*"])
        );
    }

    #[test]
    fn the_longest_document_fits_stss_limit() {
        let bucket = "b".repeat(63);
        for permissions in [
            &[Permission::Read, Permission::Delete][..],
            &[Permission::Read, Permission::Write, Permission::Delete],
        ] {
            let document = of(permissions, Some(&bucket)).document("aws-us-gov");
            assert!(document.len() < 2048, "{}", document.len());
        }
    }

    #[test]
    fn read_only_credentials_are_allowed_no_write_or_delete() {
        assert_eq!(
            actions(&of(&[Permission::Read], None)),
            ["s3:Get*", "s3:List*", "kms:Decrypt"]
        );
        let write = actions(&of(&[Permission::Write], None));
        assert!(
            write.contains(&"s3:PutObject".to_owned())
                && !write.iter().any(|a| a.contains("Delete")),
            "{write:?}"
        );
        assert!(
            write.contains(&"s3:Get*".to_owned()),
            "an update reads the previous revision"
        );
    }

    #[test]
    fn delete_without_write_may_only_move_package_pointers() {
        let policy = of(&[Permission::Read, Permission::Delete], Some("raw"));
        let puts: Vec<Value> = statements(&policy)
            .into_iter()
            .filter(|s| s["Action"] == json!(["s3:PutObject"]))
            .collect();
        assert_eq!(puts.len(), 1);
        assert_eq!(
            puts[0]["Resource"],
            json!(["arn:aws:s3:::raw/.quilt/named_packages/*/latest"])
        );
    }

    #[test]
    fn a_bucket_narrows_every_s3_action_to_it_in_the_regions_partition() {
        let policy = SessionPolicy::new(Permissions::all(), Some("raw"));
        for statement in statements(&policy) {
            if statement["Action"].to_string().contains("s3:") {
                let resources = statement["Resource"].as_array().unwrap();
                assert!(
                    resources
                        .iter()
                        .all(|r| r.as_str().unwrap().starts_with("arn:aws:s3:::raw")),
                    "{statement}"
                );
            }
        }
        assert!(actions(&policy).contains(&"s3:DeleteObject".to_owned()));
        let china = policy.document(partition("cn-north-1"));
        assert!(china.contains("arn:aws-cn:s3:::raw/*"), "{china}");
        assert_eq!(partition("us-gov-west-1"), "aws-us-gov");
        assert_eq!(partition("eu-west-1"), "aws");
        assert_eq!(partition("us-isob-east-1"), "aws-iso-b");
        assert_eq!(partition("us-iso-east-1"), "aws-iso");
    }

    #[test]
    fn policies_for_different_requests_have_different_keys() {
        let keys = [
            of(&[Permission::Read], None).key(),
            of(&[Permission::Read, Permission::Write], None).key(),
            of(&[Permission::Read], Some("raw")).key(),
            of(&[Permission::Read], Some("cooked")).key(),
        ];
        for (i, key) in keys.iter().enumerate() {
            assert!(!keys[i + 1..].contains(key), "{key}");
        }
    }
}
