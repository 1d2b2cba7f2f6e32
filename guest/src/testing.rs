//! The fakes the guest's unit tests share: the host's request context and an HTTP client
//! that answers from a script, so every layer above `http` runs natively, without wasi.

use std::cell::RefCell;
use std::collections::VecDeque;

use crate::context::{
    AwsCredentials, Caller, Context, CredentialError, Grant, RegistryAccess, Settings, SqlSettings,
};
use crate::http::{Client, HttpError, Request, Response};

/// A request context with every field chosen by the test; the default is a signed-in
/// caller with static credentials, a web catalog, no registry, and a local S3.
pub struct FakeContext {
    pub caller: Option<Caller>,
    pub credentials: Result<AwsCredentials, CredentialError>,
    pub registry_access: RegistryAccess,
    pub settings: Settings,
    pub grant: Grant,
}

impl Default for FakeContext {
    fn default() -> Self {
        Self {
            caller: Some(Caller {
                subject: "alice".into(),
                issuer: "https://issuer.example".into(),
                claims: vec![],
            }),
            credentials: Ok(AwsCredentials {
                access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
                secret_access_key: "secret".into(),
                session_token: None,
                expiration: None,
                source: "static".into(),
            }),
            registry_access: RegistryAccess {
                catalog_url: Some("https://catalog.example".into()),
                registry_url: None,
                bearer: None,
                buckets: vec![],
            },
            settings: Settings {
                region: "us-east-1".into(),
                s3_endpoint: "http://127.0.0.1:8333".into(),
                path_style: true,
                max_manifest_bytes: 1 << 20,
                max_manifest_entries: 1_000,
                credential_source: "static".into(),
                sql: SqlSettings {
                    athena_endpoint: "http://127.0.0.1:9400".into(),
                    glue_endpoint: "http://127.0.0.1:9400".into(),
                    workgroup: "primary".into(),
                    other_workgroups: vec!["slow".into()],
                    output_location: Some("s3://results/athena/callers/alice/".into()),
                    callers_results: Some("s3://results/athena/callers/".into()),
                    tabulator_catalog: Some("quilt_tabulator".into()),
                    wait_ms: 2_000,
                },
            },
            grant: Grant {
                tools: quilt_mcp_policy::tools::TOOLS
                    .iter()
                    .map(|rule| rule.name.to_owned())
                    .collect(),
                bucket: None,
                sql_writes: false,
            },
        }
    }
}

impl Context for FakeContext {
    fn caller(&self) -> Option<Caller> {
        self.caller.clone()
    }
    fn aws_credentials(&self) -> Result<AwsCredentials, CredentialError> {
        self.credentials.clone()
    }
    fn registry_access(&self) -> RegistryAccess {
        self.registry_access.clone()
    }
    fn settings(&self) -> Settings {
        self.settings.clone()
    }
    fn grant(&self) -> Grant {
        self.grant.clone()
    }
}

/// Answers each request with the next outcome of its script and records what was sent;
/// a request past the end of the script fails the test.
#[derive(Default)]
pub struct FakeHttp {
    script: RefCell<VecDeque<Result<Response, HttpError>>>,
    pub sent: RefCell<Vec<Request>>,
}

impl FakeHttp {
    pub fn answering(responses: Vec<Response>) -> Self {
        Self::scripted(responses.into_iter().map(Ok).collect())
    }

    pub fn scripted(script: Vec<Result<Response, HttpError>>) -> Self {
        Self {
            script: RefCell::new(script.into()),
            sent: RefCell::default(),
        }
    }

    pub fn sends(&self) -> usize {
        self.sent.borrow().len()
    }
}

impl Client for FakeHttp {
    /// Reads at most `max_body` bytes of the scripted body, as the real client does.
    fn send(&self, request: &Request, max_body: usize) -> Result<Response, HttpError> {
        self.sent.borrow_mut().push(request.clone());
        let mut response = self
            .script
            .borrow_mut()
            .pop_front()
            .expect("an unexpected request was sent")?;
        response.body.truncate(max_body);
        Ok(response)
    }
}

pub fn response(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Response {
    Response {
        status,
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        body: body.to_vec(),
    }
}
