//! The two pages a person sees here: the consent page and the error page. Everything a
//! client chose (its name, redirect URI, state) is HTML-escaped; the pages run no script.

use std::fmt::Write;

/// `text` safe inside HTML text and double-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#222}\
    h1{font-size:1.4rem}code{background:#f3f3f3;padding:0 .2rem}button{font-size:1rem;padding:.5rem 1.2rem;margin-right:.6rem}\
    .warn{color:#8a4b00}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <meta name=\"viewport\" content=\"width=device-width\"><style>{STYLE}</style></head><body>{body}</body></html>",
        escape(title)
    )
}

/// What the consent page shows about one authorization request.
pub struct ConsentView<'a> {
    pub client_name: &'a str,
    pub client_id: &'a str,
    pub by_document: bool,
    pub redirect_uri: &'a str,
    /// Each scope with what it lets the application do.
    pub scopes: &'a [(&'a str, &'a str)],
    pub resource: &'a str,
    /// The sealed request the form posts back.
    pub request: &'a str,
}

pub fn consent(view: &ConsentView<'_>) -> String {
    let redirect_host = url::Url::parse(view.redirect_uri)
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned))
        .unwrap_or_else(|| view.redirect_uri.to_owned());
    let identity = if view.by_document {
        format!("identified by <code>{}</code>", escape(view.client_id))
    } else {
        "<span class=\"warn\">registered itself with this server (its name is its own claim)</span>"
            .to_owned()
    };
    let mut scopes = String::new();
    for (scope, meaning) in view.scopes {
        let _ = write!(
            scopes,
            "<li><code>{}</code>: {}</li>",
            escape(scope),
            escape(meaning)
        );
    }
    let body = format!(
        "<h1>Allow {name} to use Quilt as you?</h1>\
         <p><strong>{name}</strong>, {identity}, asks to act on your behalf at <code>{resource}</code> with:</p>\
         <ul>{scopes}</ul>\
         <p>After you sign in, you will be sent back to <strong>{host}</strong> (<code>{redirect}</code>).</p>\
         <form method=\"post\" action=\"/oauth/consent\">\
         <input type=\"hidden\" name=\"request\" value=\"{request}\">\
         <button type=\"submit\" name=\"decision\" value=\"approve\">Allow and sign in</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>",
        name = escape(view.client_name),
        resource = escape(view.resource),
        host = escape(&redirect_host),
        redirect = escape(view.redirect_uri),
        request = escape(view.request),
    );
    page("Sign in to Quilt MCP", &body)
}

/// A refusal that cannot go back to the client (no trustworthy redirect URI).
pub fn error(code: &str, description: &str) -> String {
    let body = format!(
        "<h1>This sign-in cannot continue</h1><p><code>{}</code>: {}</p>\
         <p>Close this window and start again from your application.</p>",
        escape(code),
        escape(description)
    );
    page("Sign-in error", &body)
}

#[cfg(test)]
mod tests {
    use super::{ConsentView, consent, escape};

    #[test]
    fn client_chosen_text_is_escaped() {
        assert_eq!(
            escape(r#"<script>"x"&'y'"#),
            "&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;"
        );
        let scopes = [("quilt:read", "read")];
        let page = consent(&ConsentView {
            client_name: "<img src=x onerror=alert(1)>",
            client_id: "https://evil.example/\"><script>",
            by_document: true,
            redirect_uri: "https://evil.example/cb?\"><b>",
            scopes: &scopes,
            resource: "http://127.0.0.1/mcp",
            request: "sealed\"value",
        });
        assert!(!page.contains("<img"), "{page}");
        assert!(!page.contains("<script>"), "{page}");
        assert!(!page.contains("\"><b>"), "{page}");
        assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"));
    }
}
