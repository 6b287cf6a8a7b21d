"""An identity provider of the tests' own: RSA and EC keys made with `cryptography`, published as a JWKS
over real HTTP by a server whose key set a test can rotate or take down, and tokens signed with them."""
from __future__ import annotations

import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ISSUER = "https://idp.example.test/realms/realty"
AUDIENCE = "realty-gateway"


class SigningKey:
    def __init__(self, kid: str, kind: str = "RSA") -> None:
        self.kid = kid
        if kind == "RSA":
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.algorithm = "RS256"
            public = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        else:
            self.private = ec.generate_private_key(ec.SECP256R1())
            self.algorithm = "ES256"
            public = json.loads(ECAlgorithm.to_jwk(self.private.public_key()))
        self.jwk = {**public, "kid": kid, "use": "sig", "alg": self.algorithm}

    def token(self, claims: dict[str, Any] | None = None, algorithm: str | None = None,
              headers: dict[str, Any] | None = None, **overrides: Any) -> str:
        body = {"sub": "user-1", "org": "org-idp", "iss": ISSUER, "aud": AUDIENCE,
                "exp": int(time.time()) + 600, **(claims or {})}
        body.update(overrides)
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, self.private, algorithm=algorithm or self.algorithm,
                          headers={"kid": self.kid, **(headers or {})})


class Provider:
    """The JWKS endpoint: `keys` is what it publishes now; `down` makes it answer 503; `fetches` counts."""

    def __init__(self) -> None:
        self.keys: list[SigningKey] = []
        self.down = False
        self.fetches = 0
        self.url = ""


@contextlib.contextmanager
def jwks_provider(*keys: SigningKey) -> Iterator[Provider]:
    provider = Provider()
    provider.keys = list(keys)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            provider.fetches += 1
            if provider.down:
                self.send_response(503)
                self.end_headers()
                return
            body = json.dumps({"keys": [key.jwk for key in provider.keys]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    provider.url = f"http://127.0.0.1:{server.server_port}/realms/realty/protocol/openid-connect/certs"
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
