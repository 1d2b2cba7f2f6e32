//! Amazon Athena and AWS Glue as this request's caller: their JSON 1.1 APIs (`POST /` with
//! `X-Amz-Target`), each call SigV4-signed here with the caller's own credentials.
//!
//! Signing uses `aws-sigv4`, AWS's own signer (the one the AWS SDKs use): it builds for
//! wasm32-wasip2 without its async runtime, signs the session token, and shares its HMAC and
//! SHA-256 crates with rusty-s3, which signs only S3.

pub mod error;
pub mod query;
pub mod statement;

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::context::{Context, SqlSettings, credential_error_message};
use crate::http::{Client, HttpError, Method, Request, send_idempotent};
pub use error::AthenaError;

/// Athena's pages are at most 1,000 rows of text; this only stops a broken endpoint from
/// filling the guest's memory.
const MAX_RESPONSE_BODY: usize = 16 * 1024 * 1024;
/// Metadata and result reads are sent again over a fresh connection when a pooled one was
/// closed under them; starting a query is not (it would start two).
const DEAD_CONNECTION_RETRIES: usize = 2;

/// The two services, each with its endpoint and the prefix of its operations' names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Athena,
    Glue,
}

impl Service {
    fn signing_name(self) -> &'static str {
        match self {
            Self::Athena => "athena",
            Self::Glue => "glue",
        }
    }

    fn target(self, operation: &str) -> String {
        match self {
            Self::Athena => format!("AmazonAthena.{operation}"),
            Self::Glue => format!("AWSGlue.{operation}"),
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Self::Athena => "Athena",
            Self::Glue => "Glue",
        }
    }
}

/// Athena and Glue, addressed as the caller of this request.
pub struct Athena<'a> {
    http: &'a dyn Client,
    athena: Url,
    glue: Url,
    region: String,
    credentials: Credentials,
    pub settings: SqlSettings,
}

impl<'a> Athena<'a> {
    pub fn connect(context: &dyn Context, http: &'a dyn Client) -> Result<Self, AthenaError> {
        let settings = context.settings();
        let sql = settings.sql;
        let parse = |text: &str| {
            Url::parse(text)
                .ok()
                .filter(|url| matches!(url.scheme(), "http" | "https"))
                .ok_or_else(|| AthenaError::BadEndpoint(text.to_owned()))
        };
        let (athena, glue) = (parse(&sql.athena_endpoint)?, parse(&sql.glue_endpoint)?);
        let keys = context
            .aws_credentials()
            .map_err(|e| AthenaError::NoCredentials(credential_error_message(&e).to_owned()))?;
        let credentials = Credentials::new(
            keys.access_key_id,
            keys.secret_access_key,
            keys.session_token,
            None,
            "quilt-mcp",
        );
        Ok(Self {
            http,
            athena,
            glue,
            region: settings.region,
            credentials,
            settings: sql,
        })
    }

    /// Calls `operation` of `service` with `body`; `idempotent` calls are sent again when
    /// the connection was lost under them.
    pub fn call<T: DeserializeOwned>(
        &self,
        service: Service,
        operation: &str,
        body: &impl Serialize,
        idempotent: bool,
    ) -> Result<T, AthenaError> {
        let body = serde_json::to_vec(body).expect("request bodies serialise");
        let url = match service {
            Service::Athena => &self.athena,
            Service::Glue => &self.glue,
        };
        let request = self
            .signed(service, url, &service.target(operation), body)
            .map_err(|detail| AthenaError::Signing(detail.to_string()))?;
        let retries = if idempotent {
            DEAD_CONNECTION_RETRIES
        } else {
            0
        };
        let response = send_idempotent(self.http, &request, MAX_RESPONSE_BODY, retries)
            .map_err(|error| unreachable(service, url, error))?;
        if !(200..300).contains(&response.status) {
            return Err(error::from_response(service, &response));
        }
        serde_json::from_slice(&response.body).map_err(|e| AthenaError::Failed {
            service,
            detail: format!("its answer to {operation} is not the JSON the API returns ({e})"),
        })
    }

    fn signed(
        &self,
        service: Service,
        url: &Url,
        target: &str,
        body: Vec<u8>,
    ) -> Result<Request, Box<dyn std::error::Error>> {
        let content_type = "application/x-amz-json-1.1";
        let headers = [("content-type", content_type), ("x-amz-target", target)];
        let identity = self.credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(service.signing_name())
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()?
            .into();
        let signable = SignableRequest::new(
            "POST",
            url.as_str(),
            headers.into_iter(),
            SignableBody::Bytes(&body),
        )?;
        let (instructions, _) = sign(signable, &params)?.into_parts();
        let mut all: Vec<(String, String)> = headers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        all.extend(
            instructions
                .headers()
                .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned())),
        );
        Ok(Request {
            method: Method::Post,
            url: url.clone(),
            headers: all,
            body,
        })
    }
}

fn unreachable(service: Service, url: &Url, error: HttpError) -> AthenaError {
    AthenaError::Unreachable {
        service,
        endpoint: url.origin().ascii_serialization(),
        detail: match error {
            HttpError::Transport { detail, .. } | HttpError::ConnectionLost { detail, .. } => {
                detail
            }
            other => other.to_string(),
        },
    }
}
