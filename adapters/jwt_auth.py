"""Bearer JWTs (CONTRACT §2, §12): signed HS256 with AUTH_JWT_SECRET, or by an identity provider's keys
(AUTH_JWKS_URL, RS256/ES256...), both accepted side by side.

Which check a token gets follows its header's `alg`, but each check fixes its own algorithms: HS256 only
with the secret, and with a provider key only that key's algorithm. So a token signed HS256 with a
provider's public key (the classic confusion) meets the secret and fails, and `none` meets nothing.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import jwt

from adapters.jwks_keys import JwksKeys
from core.input_rules import is_storable
from core.errors import Unauthenticated
from core.ports import Authenticator, Caller


MAX_CLAIM_LENGTH = 255
"""Longest sub and org: an org is stored with every realty, room and grant."""
DEFAULT_LEEWAY_SECONDS = 30


@dataclass(frozen=True)
class IdentityProvider:
    """AUTH_JWKS_URL's keys, with the issuer and audience its tokens must name, and the claim holding the org."""

    keys: JwksKeys
    issuer: str | None = None
    audience: str | None = None
    org_claim: str = "org"


class JwtAuthenticator(Authenticator):
    def __init__(self, secret: str, leeway_seconds: int = DEFAULT_LEEWAY_SECONDS,
                 provider: IdentityProvider | None = None) -> None:
        """`leeway_seconds`: clock skew allowed between the token's issuer and us (iat, nbf, exp)."""
        self._secret = secret
        self._leeway = leeway_seconds
        self._provider = provider

    def authenticate(self, token: str | None) -> Caller:
        if not token:
            raise Unauthenticated("A bearer token is required")
        header: dict[str, Any] = {"alg": "HS256"}
        if self._provider is not None:
            try:
                header = jwt.get_unverified_header(token)
            except jwt.InvalidTokenError:
                raise Unauthenticated("The token is malformed or wrongly signed") from None
        if self._provider is None or header.get("alg") == "HS256":
            claims = self._decode(token, self._secret, "HS256")
            return _caller(claims, "org", claims.get("sub"))
        claims = self._decode_from_provider(token, header, self._provider)
        return _caller(claims, self._provider.org_claim, None)

    def _decode_from_provider(self, token: str, header: dict[str, Any], provider: IdentityProvider) -> dict[str, Any]:
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthenticated("The token names no key (kid)")
        key = provider.keys.key_for(kid)
        if key is None:
            raise Unauthenticated("The token is signed with a key the identity provider does not publish")
        return self._decode(token, key.key, key.algorithm_name, issuer=provider.issuer, audience=provider.audience)

    def _decode(self, token: str, key: Any, algorithm: str, issuer: str | None = None,
                audience: str | None = None) -> dict[str, Any]:
        required = ["exp", "sub"] + (["iss"] if issuer else []) + (["aud"] if audience else [])
        try:
            # exp is checked below, once its type is known: PyJWT takes JSON's true for the number 1.
            claims = jwt.decode(token, key, algorithms=[algorithm], leeway=self._leeway, issuer=issuer,
                                audience=audience, options={"require": required, "verify_exp": False,
                                                            "verify_aud": audience is not None})
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthenticated(f"The token has no {exc.claim} claim") from None
        except jwt.ImmatureSignatureError:
            raise Unauthenticated("The token is not valid yet (its iat or nbf is in the future)") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("The token was not issued by the expected identity provider (iss)") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("The token is not meant for this service (aud)") from None
        except jwt.InvalidTokenError:
            raise Unauthenticated("The token is malformed or wrongly signed") from None
        exp = claims["exp"]
        if isinstance(exp, bool) or not isinstance(exp, (int, float)) or not math.isfinite(exp):
            # RFC 7519: a NumericDate. PyJWT would also read a numeric string as one.
            raise Unauthenticated("The token's exp must be a number")
        if exp <= time.time() - self._leeway:
            raise Unauthenticated("The token has expired")
        return claims

    def issue(self, sub: str, org: str | None, ttl_seconds: int) -> str:
        claims = {"sub": sub, "org": org or sub, "exp": int(time.time()) + ttl_seconds}
        return jwt.encode(claims, self._secret, algorithm="HS256")


def _caller(claims: dict[str, Any], org_claim: str, default_org: Any) -> Caller:
    """A token from our own secret may leave out its org (it is then the sub's); one from an identity
    provider must carry the claim AUTH_ORG_CLAIM names: without it the provider's mapping of users to
    orgs is missing, and every user would silently become a tenant of their own."""
    sub, org = claims.get("sub"), claims.get(org_claim, default_org)
    if org is None:
        raise Unauthenticated(f"The token has no {org_claim} claim")
    if not all(isinstance(claim, str) and 0 < len(claim) <= MAX_CLAIM_LENGTH for claim in (sub, org)):
        raise Unauthenticated(f"The token's sub and org must be strings of 1 to {MAX_CLAIM_LENGTH} characters")
    if not (is_storable(sub) and is_storable(org)):
        # NUL or a lone surrogate: PostgreSQL refuses the org, SQLite would keep a tenant of its own.
        raise Unauthenticated("The token's sub and org must be plain text (no NUL, no unpaired surrogate)")
    return Caller(sub=sub, org=org)
