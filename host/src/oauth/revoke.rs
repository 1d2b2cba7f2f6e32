//! `POST /oauth/revoke` (RFC 7009). A refresh token is revoked by revoking the upstream
//! refresh token sealed inside it at the upstream provider, which ends every refresh token of
//! ours that holds it. An access token cannot be revoked without shared state: it stays valid
//! until it expires (`--oauth-access-token-secs`, 10 minutes by default). As RFC 7009 §2.2
//! asks, the answer is 200 whatever the token was.

use super::keys::Purpose;
use super::token::Refresh;
use super::{Bridge, Form, Sealed};
use crate::server::responses::{self, HttpResponse};

pub async fn handle(bridge: &Bridge, form: &Form) -> HttpResponse {
    let Ok(Some(token)) = form.one("token") else {
        return super::errors::invalid_request("token is required").response();
    };
    let refresh = bridge
        .keys
        .open::<Sealed<Refresh>>(Purpose::RefreshToken, token)
        .ok()
        .and_then(Sealed::unexpired);
    if let Some(refresh) = refresh
        && form.one("client_id").ok().flatten() == Some(refresh.client_id.as_str())
    {
        match bridge
            .upstream
            .revoke(&refresh.upstream_refresh_token)
            .await
        {
            Ok(true) => {
                tracing::info!(target: "quilt_mcp::oauth", "refresh token revoked upstream")
            }
            Ok(false) => {
                tracing::warn!(target: "quilt_mcp::oauth", "the identity provider has no revocation endpoint: the refresh token lives until it expires")
            }
            Err(error) => return error.response(),
        }
    }
    let mut response = responses::text(http::StatusCode::OK, "");
    responses::no_store(&mut response);
    response
}
