"""Who is calling: the SigV4 signature of each request, checked with the caller's own secret.

The callers hold temporary credentials that SeaweedFS's STS issued. SeaweedFS keeps nothing
per session: its session token is an HS256 JWT signed with the STS signing key, and the
access key id and secret are computed from the token's `sid` claim (SeaweedFS 4.48,
weed/iam/sts/token_utils.go). Holding the same signing key (the harness configures it), this
stand-in checks the token, recomputes the secret, and checks the request's signature with it
— so a request is accepted only from whoever holds the secret, as AWS accepts it. It then reads
and writes S3 with those same credentials, and SeaweedFS applies the caller's own role.
"""

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import boto3
import jwt
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from .errors import ApiError

# A signature older or newer than this is refused, as AWS refuses it.
CLOCK_SKEW = timedelta(minutes=15)


@dataclass(frozen=True)
class Caller:
    access_key_id: str
    secret_access_key: str
    session_token: str
    # The OIDC subject the session was issued for, and the role it assumed.
    subject: str
    role: str

    def s3(self, endpoint: str, region: str):
        """An S3 client acting as this caller (path-style, as SeaweedFS is addressed)."""
        return boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            aws_session_token=self.session_token,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )


class Verifier:
    def __init__(self, issuer: str, signing_key_b64: str, region: str):
        self.issuer = issuer
        self.key = base64.b64decode(signing_key_b64)
        self.region = region

    def caller(self, method: str, path: str, headers: dict, body: bytes, service: str) -> Caller:
        """The caller of a request whose headers (lower-cased names) and body are given."""
        auth = headers.get("authorization", "")
        token = headers.get("x-amz-security-token")
        if not auth.startswith("AWS4-HMAC-SHA256 ") or not token:
            raise denied("the request is not signed with temporary credentials (SigV4 with a session token)")
        fields = parse_authorization(auth[len("AWS4-HMAC-SHA256 "):])
        try:
            access_key, date, region, signed_service, terminator = fields["Credential"].split("/")
            signed = fields["SignedHeaders"].split(";")
            signature = fields["Signature"]
        except (KeyError, ValueError):
            raise denied("the Authorization header is not a SigV4 one")
        if terminator != "aws4_request" or signed_service != service or region != self.region:
            raise denied(f"the signature's scope must be {self.region}/{service}/aws4_request")
        # The operation too: a signature must not be replayable as another operation.
        if not {"host", "x-amz-date", "x-amz-target"} <= set(signed):
            raise denied("the signature must cover the host, x-amz-date and x-amz-target headers")
        claims = self.session(token)
        sid = claims["sid"]
        expected_key = "ASIA" + hashlib.sha256(f"access-key:{sid}".encode()).hexdigest()[:16]
        if not hmac.compare_digest(access_key, expected_key):
            raise ApiError(400, "UnrecognizedClientException", "the access key does not belong to the session token")
        secret = base64.b64encode(
            hmac.new(self.key, f"secret-key:{sid}".encode(), hashlib.sha256).digest()
        ).decode()
        amz_date = headers.get("x-amz-date", "")
        check_clock(amz_date, date)
        declared = headers.get("x-amz-content-sha256")
        if declared is not None and declared != hashlib.sha256(body).hexdigest():
            raise denied("x-amz-content-sha256 does not match the body")
        request = AWSRequest(
            method=method,
            url=f"http://{headers.get('host', '')}{path}",
            data=body,
            headers={name: headers[name] for name in signed if name in headers},
        )
        request.context["timestamp"] = amz_date
        signer = SigV4Auth(Credentials(access_key, secret, token), service, region)
        canonical = signer.canonical_request(request)
        computed = signer.signature(signer.string_to_sign(request, canonical), request)
        if not hmac.compare_digest(computed, signature):
            raise ApiError(
                400,
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided.",
            )
        if not claims.get("ext_uid"):
            raise denied("the session names no user (its token has no ext_uid)")
        return Caller(access_key, secret, token, claims["ext_uid"], claims.get("role", ""))

    def session(self, token: str) -> dict:
        try:
            claims = jwt.decode(
                token,
                self.key,
                algorithms=["HS256"],
                issuer=self.issuer,
                options={"require": ["exp", "sid", "role"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise ApiError(400, "ExpiredTokenException", "The security token included in the request is expired")
        except jwt.PyJWTError:
            raise ApiError(400, "UnrecognizedClientException", "The security token included in the request is invalid.")
        if claims.get("typ") != "session":
            raise ApiError(400, "UnrecognizedClientException", "The security token included in the request is invalid.")
        return claims


def parse_authorization(text: str) -> dict:
    fields = {}
    for part in text.split(","):
        name, _, value = part.strip().partition("=")
        fields[name] = value
    return fields


def check_clock(amz_date: str, scope_date: str) -> None:
    try:
        at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        raise denied("x-amz-date is not a SigV4 timestamp")
    if not amz_date.startswith(scope_date) or abs(datetime.now(timezone.utc) - at) > CLOCK_SKEW:
        raise ApiError(400, "InvalidSignatureException", "Signature expired or not yet valid")


def denied(message: str) -> ApiError:
    return ApiError(400, "AccessDeniedException", message)
