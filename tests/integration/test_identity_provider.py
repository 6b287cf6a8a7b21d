"""Tokens from an identity provider (CONTRACT §12): verified against the keys it publishes as a JWKS,
served here over real HTTP, with rotation, outages and every way a token may be forged or misaddressed."""
from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from adapters.jwks_keys import JwksKeys
from adapters.jwt_auth import IdentityProvider, JwtAuthenticator
from core.errors import Unauthenticated
from tests.conftest import JWT_SECRET
from tests.jwks_support import AUDIENCE, ISSUER, SigningKey, jwks_provider


@pytest.fixture(scope="module")
def rsa_key():
    return SigningKey("rsa-1")


@pytest.fixture(scope="module")
def ec_key():
    return SigningKey("ec-1", kind="EC")


def authenticator(url: str, refresh_interval: float = 60.0, max_age: float = 600.0, org_claim: str = "org"):
    keys = JwksKeys(url, timeout=2.0, refresh_interval=refresh_interval, max_age=max_age)
    return JwtAuthenticator(JWT_SECRET, provider=IdentityProvider(keys, issuer=ISSUER, audience=AUDIENCE,
                                                                  org_claim=org_claim))


def refused(auth: JwtAuthenticator, token: str) -> str:
    with pytest.raises(Unauthenticated) as caught:
        auth.authenticate(token)
    return caught.value.message


def test_rs256_and_es256_tokens_of_the_provider_are_accepted_beside_hs256(rsa_key, ec_key, make_token):
    with jwks_provider(rsa_key, ec_key) as provider:
        auth = authenticator(provider.url)
        assert auth.authenticate(rsa_key.token()).org == "org-idp"
        assert auth.authenticate(ec_key.token(sub="user-2", org="org-ec")).org == "org-ec"
        assert auth.authenticate(make_token(org="org-hs")).org == "org-hs"
        assert provider.fetches == 1, "the keys are fetched once and kept"


def test_the_org_comes_from_the_claim_auth_org_claim_names(rsa_key):
    with jwks_provider(rsa_key) as provider:
        auth = authenticator(provider.url, org_claim="tenant")
        assert auth.authenticate(rsa_key.token(tenant="acme", org="ignored")).org == "acme"
        assert "tenant" in refused(auth, rsa_key.token())


def test_wrong_issuer_audience_and_expired_tokens_are_refused(rsa_key):
    with jwks_provider(rsa_key) as provider:
        auth = authenticator(provider.url)
        assert "iss" in refused(auth, rsa_key.token(iss="https://evil.example.test"))
        assert "iss" in refused(auth, rsa_key.token(iss=None))
        assert "aud" in refused(auth, rsa_key.token(aud="another-service"))
        assert "aud" in refused(auth, rsa_key.token(aud=None))
        assert "expired" in refused(auth, rsa_key.token(exp=int(time.time()) - 3600))


def test_the_algorithm_is_the_keys_never_the_tokens(rsa_key):
    with jwks_provider(rsa_key) as provider:
        auth = authenticator(provider.url)
        # The same RSA key, but PS256 where the key says RS256.
        refused(auth, rsa_key.token(algorithm="PS256"))
        # The classic confusion: HS256 "signed" with the provider's public key as the secret.
        public_pem = rsa_key.private.public_key().public_bytes(serialization.Encoding.PEM,
                                                               serialization.PublicFormat.SubjectPublicKeyInfo)
        claims = {"sub": "x", "org": "org-idp", "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 600}
        refused(auth, _hs256_with_raw_key(claims, public_pem, rsa_key.kid))
        # alg none, with the right kid.
        unsigned = _segment({"alg": "none", "typ": "JWT", "kid": rsa_key.kid}) + "." + _segment(claims) + "."
        refused(auth, unsigned)


def test_an_unknown_kid_or_none_is_refused(rsa_key):
    stranger = SigningKey("not-published")
    with jwks_provider(rsa_key) as provider:
        auth = authenticator(provider.url)
        assert "does not publish" in refused(auth, stranger.token())
        claims = {"sub": "x", "org": "o", "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 600}
        no_kid = jwt.encode(claims, rsa_key.private, algorithm="RS256")
        assert "kid" in refused(auth, no_kid)


def test_rotation_an_unknown_kid_fetches_the_keys_again_at_most_once_per_interval(rsa_key):
    rotated = SigningKey("rsa-2")
    with jwks_provider(rsa_key) as provider:
        auth = authenticator(provider.url, refresh_interval=1.0)
        auth.authenticate(rsa_key.token())
        provider.keys = [rsa_key, rotated]
        # Within the interval a flood of unknown kids fetches nothing.
        for n in range(20):
            refused(auth, SigningKey(f"made-up-{n}", kind="EC").token())
        assert provider.fetches == 1
        time.sleep(1.1)
        assert auth.authenticate(rotated.token()).org == "org-idp"
        assert provider.fetches == 2
        # The old key was withdrawn at the provider: once the set is fetched again, it no longer counts.
        provider.keys = [rotated]
        time.sleep(1.1)
        refused(auth, SigningKey("another-new").token())  # an unknown kid: the set is fetched again
        assert "does not publish" in refused(auth, rsa_key.token())


def test_the_provider_down_never_refuses_a_token_whose_key_is_kept(rsa_key):
    with jwks_provider(rsa_key) as provider:
        auth = authenticator(provider.url, refresh_interval=0.1, max_age=0.1)
        auth.authenticate(rsa_key.token())
        provider.down = True
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:  # the set is stale: every use tries a refresh in the background
            assert auth.authenticate(rsa_key.token()).org == "org-idp"
            time.sleep(0.05)
        assert provider.fetches > 1, "stale keys were fetched again (and the failures ignored)"
        refused(auth, SigningKey("new-while-down").token())


def test_an_unreachable_provider_refuses_its_tokens_but_not_hs256(rsa_key, make_token):
    with jwks_provider(rsa_key) as provider:
        url = provider.url
    auth = authenticator(url)  # the server is gone
    started = time.monotonic()
    refused(auth, rsa_key.token())
    assert time.monotonic() - started < 5
    assert auth.authenticate(make_token(org="org-hs")).org == "org-hs"


def _segment(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def _hs256_with_raw_key(claims: dict, key: bytes, kid: str) -> str:
    """HS256 over the claims with any bytes as the secret (PyJWT refuses a PEM as an HMAC key itself)."""
    import hashlib
    import hmac

    signing_input = _segment({"alg": "HS256", "typ": "JWT", "kid": kid}) + "." + _segment(claims)
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
