"""An identity provider's published signing keys (a JWKS), fetched with PyJWT's PyJWKClient and kept.

- Kept until a later fetch succeeds: the provider being down or slow never refuses a token whose key
  is known (tokens are checked against keys in memory; only an unknown `kid` makes a request wait).
- A token naming an unknown `kid` (the provider rotated its keys) fetches the set again, at most once
  every REFRESH_INTERVAL_S: a stream of made-up kids cannot turn into a stream of fetches.
- A set older than MAX_AGE_S is fetched again in the background, so a key the provider withdrew stops
  being accepted within about that long.
- Only asymmetric signing keys are kept, each with its algorithm from the key itself (its `alg`, else its
  type and curve): a token is verified with that algorithm only, never one its header asks for.
"""
from __future__ import annotations

import logging
import threading
import time

from jwt import PyJWK, PyJWKClient
from jwt.exceptions import PyJWKClientError, PyJWKError, PyJWKSetError

log = logging.getLogger(__name__)

REFRESH_INTERVAL_S = 60.0
MAX_AGE_S = 600.0
FETCH_TIMEOUT_S = 3.0
ASYMMETRIC = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"})
"""Never HS* (a published "secret" would let anyone sign) and never `none`."""


class JwksKeys:
    def __init__(self, url: str, timeout: float = FETCH_TIMEOUT_S, refresh_interval: float = REFRESH_INTERVAL_S,
                 max_age: float = MAX_AGE_S) -> None:
        # PyJWKClient's own cache would drop the keys when a fetch after their lifespan fails: this class
        # keeps them instead, so the client is used to fetch and parse only.
        self._client = PyJWKClient(url, cache_jwk_set=False, timeout=timeout)
        self._url = url
        self._refresh_interval = refresh_interval
        self._max_age = max_age
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at = float("-inf")
        self._attempted_at = float("-inf")
        self._lock = threading.Lock()
        self._refreshing = False

    def key_for(self, kid: str) -> PyJWK | None:
        """The provider's key of that id; None when it publishes none (even after a fetch allowed now)."""
        key = self._keys.get(kid)
        now = time.monotonic()
        if key is not None:
            if now - self._fetched_at > self._max_age:
                self._refresh_in_background()
            return key
        if now - self._attempted_at < self._refresh_interval:
            return None
        with self._lock:
            if kid not in self._keys and time.monotonic() - self._attempted_at >= self._refresh_interval:
                self._fetch()
        return self._keys.get(kid)

    def _fetch(self) -> None:
        """Fetch the set now (the caller holds the lock); on failure keep what was known."""
        self._attempted_at = time.monotonic()
        try:
            jwk_set = self._client.get_jwk_set(refresh=True)
        except (PyJWKClientError, PyJWKSetError, PyJWKError) as exc:
            log.warning("identity provider keys not fetched from %s: %s", self._url, exc)
            return
        keys = {key.key_id: key for key in jwk_set.keys
                if key.key_id and key.public_key_use in ("sig", None) and key.algorithm_name in ASYMMETRIC}
        if not keys:
            log.warning("identity provider at %s publishes no asymmetric signing key with a kid", self._url)
        self._keys = keys
        self._fetched_at = time.monotonic()

    def _refresh_in_background(self) -> None:
        with self._lock:
            if self._refreshing or time.monotonic() - self._attempted_at < self._refresh_interval:
                return
            self._refreshing = True

        def refresh() -> None:
            try:
                with self._lock:
                    self._fetch()
            finally:
                self._refreshing = False

        threading.Thread(target=refresh, name="jwks-refresh", daemon=True).start()
