"""The Python MCP SDK 2.x signing in by OAuth through the host's sign-in bridge:
`python_oauth.py MODE URL REDIRECT_URI OWN_BUCKET OTHER_BUCKET`, the person's login and
password in SIGN_IN_LOGIN and SIGN_IN_PASSWORD. Run by tests/tests/e2e/sign_in_clients.rs.

MODE is `registration` (the SDK registers itself, RFC 7591) or `refresh` (the same, then the
client is used again after its access token expired: the SDK must refresh by itself).

`mcp.client.auth.OAuthClientProvider` with a TokenStorage in memory is the httpx2 client's auth.
Its `redirect_handler` plays the person in a browser with httpx2 (a cookie jar, redirects
followed by hand): the bridge's consent page (approve), the IdP's login form, until the redirect
to REDIRECT_URI; its `callback_handler` returns that redirect's code, state and iss. Then it lists
the tools and lists OWN_BUCKET and OTHER_BUCKET with bucket_objects_list, and prints what it saw
as one JSON line: every HTTP request the SDK made (`requests`), the tokens it was given, the
sign-ins the person did, and the results.
"""

import asyncio
import html
import json
import os
import re
import sys
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx2
from mcp import Client
from mcp.client.auth import OAuthClientProvider, TokenStorage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

# A sign-in is about ten redirects; more means a loop.
MAX_STEPS = 20
# The longest access token lifetime the refresh mode waits out.
MAX_WAIT_SECS = 30


class MemoryStorage(TokenStorage):
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None
        self.saved_tokens: list[OAuthToken] = []

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens
        self.saved_tokens.append(tokens)

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


class Person:
    """A person with a browser: approves the consent page and fills in the IdP's login form."""

    def __init__(self, login: str, password: str, redirect_uri: str) -> None:
        self.login = login
        self.password = password
        self.redirect_uri = redirect_uri
        self.consent_pages: list[str] = []
        self.redirects: list[dict] = []
        self._result: AuthorizationCodeResult | None = None

    async def redirect_handler(self, authorization_url: str) -> None:
        target = urlsplit(self.redirect_uri)
        async with httpx2.AsyncClient(follow_redirects=False) as browser:
            method, url, form = "GET", authorization_url, None
            logged_in = False
            for _ in range(MAX_STEPS):
                response = await browser.request(method, url, data=form)
                if response.is_redirect:
                    following = urljoin(url, response.headers["location"])
                    parts = urlsplit(following)
                    if (parts.scheme, parts.netloc, parts.path) == (target.scheme, target.netloc, target.path):
                        self._finish(parts.query)
                        return
                    method, url, form = "GET", following, None
                    continue
                page = response.text
                if response.status_code != 200:
                    raise RuntimeError(f"{response.status_code} at {url}: {page}")
                action, hidden, inputs = first_form(page)
                if action is None:
                    raise RuntimeError(f"a page without a form at {url}: {page}")
                url = urljoin(url, action)
                method = "POST"
                if "request" in hidden:
                    # The bridge's consent page: what it says the client is, then "Allow".
                    self.consent_pages.append(f"{text_of(page, 'h1')} {text_of(page, 'p')}")
                    form = {**hidden, "decision": "approve"}
                elif "login" in inputs and not logged_in:
                    logged_in = True
                    form = {**hidden, "login": self.login, "password": self.password}
                else:
                    raise RuntimeError(f"an unexpected page at {url}: {page}")
            raise RuntimeError(f"more than {MAX_STEPS} steps signing in at {authorization_url}")

    def _finish(self, query: str) -> None:
        params = {name: values[0] for name, values in parse_qs(query).items()}
        if "error" in params:
            raise RuntimeError(f"the bridge answered {params['error']}: {params.get('error_description')}")
        self.redirects.append({"iss": params.get("iss"), "has_code": "code" in params})
        self._result = AuthorizationCodeResult(code=params["code"], state=params.get("state"), iss=params.get("iss"))

    async def callback_handler(self) -> AuthorizationCodeResult:
        result, self._result = self._result, None
        if result is None:
            raise RuntimeError("the sign-in did not come back to the redirect URI")
        return result


def first_form(page: str) -> tuple[str | None, dict[str, str], list[str]]:
    """The page's first form: its action, hidden fields and the names of its other inputs."""
    match = re.search(r"<form\b([^>]*)>(.*?)(?:</form>|$)", page, re.S)
    if not match:
        return None, {}, []

    def attribute(tag: str, name: str) -> str | None:
        found = re.search(rf'\s{name}="([^"]*)"', tag)
        return html.unescape(found.group(1)) if found else None

    hidden: dict[str, str] = {}
    inputs: list[str] = []
    for tag in re.findall(r"<input\b[^>]*>", match.group(2)):
        name = attribute(tag, "name")
        if name is None:
            continue
        if attribute(tag, "type") == "hidden":
            hidden[name] = attribute(tag, "value") or ""
        else:
            inputs.append(name)
    return attribute(match.group(1), "action") or "", hidden, inputs


def text_of(page: str, tag: str) -> str:
    """The first `tag` element's text, as a person reads it."""
    match = re.search(rf"<{tag}>(.*?)</{tag}>", page, re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]*>", "", match.group(1))).split()) if match else ""


async def main(mode: str, url: str, redirect_uri: str, own_bucket: str, other_bucket: str) -> dict:
    if mode not in ("registration", "refresh"):
        raise SystemExit(f"unknown mode {mode}")
    person = Person(os.environ["SIGN_IN_LOGIN"], os.environ["SIGN_IN_PASSWORD"], redirect_uri)
    storage = MemoryStorage()
    provider = OAuthClientProvider(
        server_url=url,
        client_metadata=OAuthClientMetadata(
            client_name="Python SDK test client",
            redirect_uris=[redirect_uri],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=person.redirect_handler,
        callback_handler=person.callback_handler,
    )
    requests: list[dict] = []

    async def record(response: httpx2.Response) -> None:
        request = response.request
        entry: dict = {"method": request.method, "url": str(request.url), "status": response.status_code}
        body = request.content
        if body:
            if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                entry["grant_type"] = parse_qs(body.decode()).get("grant_type", [None])[0]
            else:
                try:
                    entry["rpc"] = json.loads(body).get("method")
                except (ValueError, AttributeError):
                    pass
        requests.append(entry)

    async def list_bucket(client: Client, bucket: str) -> dict:
        result = await client.call_tool("bucket_objects_list", {"bucket": bucket})
        return {
            "is_error": result.is_error,
            "content": [block.model_dump(mode="json") for block in result.content],
            "listing": result.structured_content,
        }

    async with httpx2.AsyncClient(auth=provider, event_hooks={"response": [record]}) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            tools = await client.list_tools()
            own = await list_bucket(client, own_bucket)
            other = await list_bucket(client, other_bucket)
            after_expiry = None
            if mode == "refresh":
                # Wait out the access token (the test gives it seconds; a long one is not
                # waited for, and the test then finds no refresh), then use the client again.
                lifetime = min(storage.saved_tokens[-1].expires_in or 5, MAX_WAIT_SECS)
                await asyncio.sleep(lifetime + 1.5)
                after_expiry = await list_bucket(client, own_bucket)
            protocol_version = client.protocol_version
    return {
        "mode": mode,
        "protocol_version": protocol_version,
        "client_id": storage.client_info.client_id if storage.client_info else None,
        "tools": [tool.name for tool in tools.tools],
        "own": own,
        "other": other,
        "after_expiry": after_expiry,
        "tokens": [
            {
                "access_token": tokens.access_token,
                "refresh_token": tokens.refresh_token,
                "expires_in": tokens.expires_in,
                "scope": tokens.scope,
            }
            for tokens in storage.saved_tokens
        ],
        "consent_pages": person.consent_pages,
        "redirects": person.redirects,
        "requests": requests,
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(*sys.argv[1:]))))
