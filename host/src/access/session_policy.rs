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
}

impl SessionPolicy {
    pub fn new(permissions: Permissions, bucket: Option<&str>) -> Self {
        Self {
            permissions,
            bucket: bucket.map(str::to_owned),
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
    /// `partition` (`aws`, `aws-cn`, `aws-us-gov`); `None` when the role's own rights are
    /// what the request may use.
    pub fn document(&self, partition: &str) -> Option<String> {
        if self.permissions == Permissions::all() && self.bucket.is_none() {
            return None;
        }
        let arn = |path: &str| format!("arn:{partition}:s3:::{path}");
        let (bucket, objects, pointers) = match &self.bucket {
            Some(bucket) => (
                arn(bucket),
                arn(&format!("{bucket}/*")),
                arn(&format!("{bucket}/.quilt/named_packages/*")),
            ),
            None => (arn("*"), arn("*/*"), arn("*/.quilt/named_packages/*")),
        };
        // Every tool reads what it changes (a package update reads the previous manifest);
        // objects encrypted with KMS need their key to be read or written.
        let mut statements = vec![
            json!({"Effect": "Allow", "Action": ["s3:Get*", "s3:List*"], "Resource": [&bucket, &objects]}),
        ];
        let mut kms = vec!["kms:Decrypt"];
        if self.permissions.contains(Permission::Write) {
            statements.push(json!({"Effect": "Allow", "Action": ["s3:PutObject", "s3:*MultipartUpload*", "s3:UploadPart*"], "Resource": [&objects]}));
            kms.push("kms:GenerateDataKey");
        }
        if self.permissions.contains(Permission::Delete) {
            statements.push(
                json!({"Effect": "Allow", "Action": ["s3:DeleteObject*"], "Resource": [&objects]}),
            );
            // Deleting the newest revision moves the package's `latest` pointer back.
            if !self.permissions.contains(Permission::Write) {
                statements.push(
                    json!({"Effect": "Allow", "Action": ["s3:PutObject"], "Resource": [&pointers]}),
                );
                kms.push("kms:GenerateDataKey");
            }
        }
        statements.push(json!({"Effect": "Allow", "Action": kms, "Resource": "*"}));
        Some(json!({"Version": "2012-10-17", "Statement": statements}).to_string())
    }
}

/// The ARN partition of an AWS region.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

#[cfg(test)]
mod tests {
    use quilt_mcp_policy::tools::Permission;
    use serde_json::{Value, json};

    use super::{SessionPolicy, partition};
    use crate::access::Permissions;

    fn statements(policy: &SessionPolicy) -> Vec<Value> {
        let document: Value = serde_json::from_str(&policy.document("aws").unwrap()).unwrap();
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
    fn the_roles_own_rights_need_no_policy() {
        assert_eq!(SessionPolicy::unrestricted().document("aws"), None);
        assert!(!SessionPolicy::unrestricted().allows_nothing());
        assert!(SessionPolicy::new(Permissions::none(), None).allows_nothing());
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
            json!(["arn:aws:s3:::raw/.quilt/named_packages/*"])
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
        assert!(actions(&policy).contains(&"s3:DeleteObject*".to_owned()));
        let china = policy.document(partition("cn-north-1")).unwrap();
        assert!(china.contains("arn:aws-cn:s3:::raw/*"), "{china}");
        assert_eq!(partition("us-gov-west-1"), "aws-us-gov");
        assert_eq!(partition("eu-west-1"), "aws");
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
