"""Bearer JWTs signed HS256 (CONTRACT §2)."""
from __future__ import annotations

import time

import jwt

from core.errors import Unauthenticated
from core.ports import Authenticator, Caller


MAX_CLAIM_LENGTH = 255
"""Longest sub and org: an org is stored with every realty, room and grant."""


class JwtAuthenticator(Authenticator):
    def __init__(self, secret: str) -> None:
        self._secret = secret

    def authenticate(self, token: str | None) -> Caller:
        if not token:
            raise Unauthenticated("A bearer token is required")
        try:
            claims = jwt.decode(token, self._secret, algorithms=["HS256"], options={"require": ["exp", "sub"]})
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("The token has expired") from None
        except jwt.InvalidTokenError:
            raise Unauthenticated("The token is malformed or wrongly signed") from None
        if isinstance(claims["exp"], bool) or not isinstance(claims["exp"], (int, float)):
            # PyJWT reads a numeric string as a date; RFC 7519 says exp is a number.
            raise Unauthenticated("The token's exp must be a number")
        sub, org = claims.get("sub"), claims.get("org", claims.get("sub"))
        if not all(isinstance(claim, str) and 0 < len(claim) <= MAX_CLAIM_LENGTH for claim in (sub, org)):
            raise Unauthenticated(f"The token's sub and org must be strings of 1 to {MAX_CLAIM_LENGTH} characters")
        return Caller(sub=sub, org=org)

    def issue(self, sub: str, org: str | None, ttl_seconds: int) -> str:
        claims = {"sub": sub, "org": org or sub, "exp": int(time.time()) + ttl_seconds}
        return jwt.encode(claims, self._secret, algorithm="HS256")
