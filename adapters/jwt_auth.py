"""Bearer JWTs signed HS256 (CONTRACT §2)."""
from __future__ import annotations

import math
import time

import jwt

from core.input_rules import is_storable
from core.errors import Unauthenticated
from core.ports import Authenticator, Caller


MAX_CLAIM_LENGTH = 255
"""Longest sub and org: an org is stored with every realty, room and grant."""
DEFAULT_LEEWAY_SECONDS = 30


class JwtAuthenticator(Authenticator):
    def __init__(self, secret: str, leeway_seconds: int = DEFAULT_LEEWAY_SECONDS) -> None:
        """`leeway_seconds`: clock skew allowed between the token's issuer and us (iat, nbf, exp)."""
        self._secret = secret
        self._leeway = leeway_seconds

    def authenticate(self, token: str | None) -> Caller:
        if not token:
            raise Unauthenticated("A bearer token is required")
        try:
            # exp is checked below, once its type is known: PyJWT takes JSON's true for the number 1.
            claims = jwt.decode(token, self._secret, algorithms=["HS256"], leeway=self._leeway,
                                options={"require": ["exp", "sub"], "verify_exp": False})
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthenticated(f"The token has no {exc.claim} claim") from None
        except jwt.ImmatureSignatureError:
            raise Unauthenticated("The token is not valid yet (its iat or nbf is in the future)") from None
        except jwt.InvalidTokenError:
            raise Unauthenticated("The token is malformed or wrongly signed") from None
        exp = claims["exp"]
        if isinstance(exp, bool) or not isinstance(exp, (int, float)) or not math.isfinite(exp):
            # RFC 7519: a NumericDate. PyJWT would also read a numeric string as one.
            raise Unauthenticated("The token's exp must be a number")
        if exp <= time.time() - self._leeway:
            raise Unauthenticated("The token has expired")
        sub, org = claims.get("sub"), claims.get("org", claims.get("sub"))
        if not all(isinstance(claim, str) and 0 < len(claim) <= MAX_CLAIM_LENGTH for claim in (sub, org)):
            raise Unauthenticated(f"The token's sub and org must be strings of 1 to {MAX_CLAIM_LENGTH} characters")
        if not (is_storable(sub) and is_storable(org)):
            # NUL or a lone surrogate: PostgreSQL refuses the org, SQLite would keep a tenant of its own.
            raise Unauthenticated("The token's sub and org must be plain text (no NUL, no unpaired surrogate)")
        return Caller(sub=sub, org=org)

    def issue(self, sub: str, org: str | None, ttl_seconds: int) -> str:
        claims = {"sub": sub, "org": org or sub, "exp": int(time.time()) + ttl_seconds}
        return jwt.encode(claims, self._secret, algorithm="HS256")
