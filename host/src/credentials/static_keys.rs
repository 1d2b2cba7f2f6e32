//! One fixed key pair for every caller: for a single-user deployment or development.

use super::{AwsCredentials, CredentialError, CredentialSource};
use crate::access::SessionPolicy;
use crate::auth::Caller;

pub struct StaticKeys {
    keys: AwsCredentials,
}

impl StaticKeys {
    pub fn new(keys: AwsCredentials) -> Self {
        Self { keys }
    }
}

#[async_trait::async_trait]
impl CredentialSource for StaticKeys {
    fn name(&self) -> &'static str {
        "static"
    }

    async fn credentials(
        &self,
        _: Option<&Caller>,
        _: &SessionPolicy,
    ) -> Result<AwsCredentials, CredentialError> {
        Ok(self.keys.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::StaticKeys;
    use crate::access::SessionPolicy;
    use crate::credentials::{AwsCredentials, CredentialSource};

    #[tokio::test]
    async fn hands_out_the_configured_keys_to_any_caller() {
        let source = StaticKeys::new(AwsCredentials {
            access_key_id: "AKID".into(),
            secret_access_key: "secret".into(),
            session_token: None,
            expiration: None,
        });
        let keys = source
            .credentials(None, &SessionPolicy::unrestricted())
            .await
            .unwrap();
        assert_eq!(keys.access_key_id, "AKID");
        assert_eq!(source.name(), "static");
    }
}
