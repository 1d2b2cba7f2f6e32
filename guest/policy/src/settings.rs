//! How both deployments hand configured URLs to the tools guest.

use url::Url;

/// `url` as the operator wrote it: `Url` adds a `/` to a bare origin, which the tools would
/// otherwise repeat in every link and path they build from it.
pub fn url_for_guest(url: &Url) -> String {
    url.as_str().trim_end_matches('/').to_owned()
}
