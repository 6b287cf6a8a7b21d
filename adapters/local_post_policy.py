"""S3's POST policy, done by the local store: SigV4-signed upload forms, checked as S3 checks them.

A grant from the local store is the same presigned POST form S3 hands out (`key`, `Content-Type`,
`Policy`, `X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Signature`), so a client written
against S3 works unchanged against the embedded default. `PostPolicy.form` signs one; `authorize`
checks a posted form's fields against their signed policy (signature, expiry, every condition, no field
it does not vouch for) and answers what S3 would answer otherwise.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Mapping

ALGORITHM = "AWS4-HMAC-SHA256"
REGION = "local"
SERVICE = "s3"
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
POLICY_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
DEFAULT_CONTENT_TYPE = "binary/octet-stream"  # what S3 records when no type is given

# Status codes of the S3 error codes this adapter raises (as S3 answers them).
_STATUS = {
    "AccessDenied": 403,
    "SignatureDoesNotMatch": 403,
    "InvalidAccessKeyId": 403,
    "EntityTooLarge": 400,
    "EntityTooSmall": 400,
    "IncompleteBody": 400,
    "InvalidArgument": 400,
    "InvalidPolicyDocument": 400,
    "MalformedPOSTRequest": 400,
    "MaxPostPreDataLengthExceeded": 400,
    "PreconditionFailed": 412,
    "NoSuchKey": 404,
    "ServiceUnavailable": 503,
}


class LocalStorageError(Exception):
    """A refused storage request, described as S3 would describe it (`code` is S3's error code)."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status if status is not None else _STATUS.get(code, 400)


@dataclass(frozen=True)
class AuthorizedPost:
    """A POST whose form fields satisfy their signed policy; what remains is to receive the file."""

    key: str
    content_type: str
    min_bytes: int
    max_bytes: int | None
    success_action_status: int = 204


def hmac_sha256(key: bytes, message: str | bytes) -> bytes:
    if isinstance(message, str):
        message = message.encode()
    return hmac.new(key, message, hashlib.sha256).digest()


class PostPolicy:
    """Signs and checks the POST forms of one local bucket."""

    def __init__(self, secret: bytes, access_key_id: str, bucket: str, now: Callable[[], datetime]) -> None:
        self._secret = secret
        self.access_key_id = access_key_id
        self.bucket = bucket
        self._now = now

    def form(self, key: str, content_type: str, max_bytes: int, expires_in: int) -> tuple[dict[str, str], datetime]:
        """The fields of a form that admits exactly this key, type and size range, and when it expires."""
        now = self._now().astimezone(timezone.utc).replace(microsecond=0)
        expires_at = now + timedelta(seconds=expires_in)
        amz_date = now.strftime(AMZ_DATE_FORMAT)
        credential = f"{self.access_key_id}/{now:%Y%m%d}/{REGION}/{SERVICE}/aws4_request"
        # The same document S3 (and boto3's generate_presigned_post) would use.
        policy = {
            "expiration": expires_at.strftime(POLICY_TIME_FORMAT),
            "conditions": [
                {"bucket": self.bucket},
                {"key": key},
                {"Content-Type": content_type},
                ["content-length-range", 1, max_bytes],
                {"x-amz-algorithm": ALGORITHM},
                {"x-amz-credential": credential},
                {"x-amz-date": amz_date},
            ],
        }
        encoded = base64.b64encode(json.dumps(policy, separators=(",", ":")).encode()).decode()
        fields = {
            "key": key,
            "Content-Type": content_type,
            "Policy": encoded,
            "X-Amz-Algorithm": ALGORITHM,
            "X-Amz-Credential": credential,
            "X-Amz-Date": amz_date,
            "X-Amz-Signature": self._post_signature(now.strftime("%Y%m%d"), encoded),
        }
        return fields, expires_at

    def authorize(self, fields: Mapping[str, str], check_key: Callable[[str], object]) -> AuthorizedPost:
        """Check the form fields of a POST upload against their policy, as S3 does.

        `fields` are the form fields that preceded the file part (field names in any case; S3 compares
        them case-insensitively). Raises LocalStorageError with S3's code when anything is off.
        """
        form: dict[str, str] = {}
        for name, value in fields.items():
            lowered = name.lower()
            if lowered in form:
                raise LocalStorageError("InvalidArgument", f"Field {name} is given more than once")
            form[lowered] = value
        form.pop("file", None)

        key = form.get("key")
        if not key:
            raise LocalStorageError("InvalidArgument", "Bucket POST must contain a field named 'key'.  If it "
                                                       "is specified, please check the order of the fields.")
        encoded = form.get("policy")
        if not encoded:
            # S3 admits policy-less (anonymous) POSTs only to publicly writable buckets; this one is not.
            raise LocalStorageError("AccessDenied", "Access Denied")
        date_stamp = self._check_credential(form)
        expected = self._post_signature(date_stamp, encoded)
        if not hmac.compare_digest(expected.encode(), form.get("x-amz-signature", "").encode()):
            raise LocalStorageError("SignatureDoesNotMatch", "The request signature we calculated does not match "
                                                             "the signature you provided. Check your key and "
                                                             "signing method.")
        policy = self._decode_policy(encoded)
        if self._now() >= policy["expiration"]:
            raise LocalStorageError("AccessDenied", "Invalid according to Policy: Policy expired.")
        self._accept_seed_form(form, policy["conditions"])

        covered: set[str] = set()
        min_bytes, max_bytes = 0, None
        for condition in policy["conditions"]:
            if isinstance(condition, list) and condition and condition[0] == "content-length-range":
                low, high = condition[1], condition[2]
                min_bytes = max(min_bytes, low)
                max_bytes = high if max_bytes is None else min(max_bytes, high)
                continue
            name, check, expected_value = condition
            covered.add(name)
            actual = self.bucket if name == "bucket" else form.get(name, "")
            ok = actual == expected_value if check == "eq" else actual.startswith(expected_value)
            if not ok:
                raise LocalStorageError("AccessDenied", "Invalid according to Policy: Policy Condition failed: "
                                                        + json.dumps([check, "$" + name, expected_value]))
        # Every field must be vouched for by the policy, except the ones S3 exempts.
        for name in form:
            if name in ("policy", "x-amz-signature") or name.startswith("x-ignore-"):
                continue
            if name not in covered:
                raise LocalStorageError("AccessDenied", f"Invalid according to Policy: Extra input fields: {name}")
        try:
            check_key(key)
        except ValueError as exc:  # the store's InvalidKey: a key it could never store
            raise LocalStorageError("InvalidArgument", str(exc)) from None
        status = form.get("success_action_status", "")
        return AuthorizedPost(key=key, content_type=form.get("content-type") or DEFAULT_CONTENT_TYPE,
                              min_bytes=min_bytes, max_bytes=max_bytes,
                              success_action_status=int(status) if status in ("200", "201", "204") else 204)

    @staticmethod
    def _accept_seed_form(form: dict[str, str], conditions: list[list]) -> None:
        """Let the seed's HTML form through unchanged, although it is not quite what S3 wants.

        That form has no Content-Type input, and always posts X-Amz-Security-Token, empty when the
        grant carries none. So an empty token counts as absent, and an absent Content-Type takes the
        granted type: a *different* type is still refused, and the gateway sniffs the bytes on save.
        """
        if not form.get("x-amz-security-token"):
            form.pop("x-amz-security-token", None)
        if "content-type" not in form:
            for name, check, value in (c for c in conditions if c[0] != "content-length-range"):
                if name == "content-type" and check == "eq":
                    form["content-type"] = value

    def _signing_key(self, date_stamp: str) -> bytes:
        # SigV4's derivation, so the signature is what an S3 client library would compute.
        key = hmac_sha256(b"AWS4" + self._secret, date_stamp)
        key = hmac_sha256(key, REGION)
        key = hmac_sha256(key, SERVICE)
        return hmac_sha256(key, "aws4_request")

    def _post_signature(self, date_stamp: str, encoded_policy: str) -> str:
        return hmac.new(self._signing_key(date_stamp), encoded_policy.encode(), hashlib.sha256).hexdigest()

    def _check_credential(self, form: Mapping[str, str]) -> str:
        """Validate the SigV4 fields; returns the credential's date stamp."""
        if form.get("x-amz-algorithm") != ALGORITHM:
            raise LocalStorageError("InvalidArgument", f"X-Amz-Algorithm must be {ALGORITHM}")
        parts = form.get("x-amz-credential", "").split("/")
        if len(parts) != 5 or parts[3:] != [SERVICE, "aws4_request"]:
            raise LocalStorageError("InvalidArgument", "X-Amz-Credential is malformed")
        access_key_id, date_stamp, region = parts[:3]
        if access_key_id != self.access_key_id:
            raise LocalStorageError("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist "
                                                          "in our records.")
        if region != REGION:
            raise LocalStorageError("InvalidArgument", f"X-Amz-Credential: the region must be {REGION!r}")
        amz_date = form.get("x-amz-date", "")
        try:
            datetime.strptime(amz_date, AMZ_DATE_FORMAT)
        except ValueError:
            raise LocalStorageError("InvalidArgument", "X-Amz-Date is malformed") from None
        if amz_date[:8] != date_stamp:
            raise LocalStorageError("InvalidArgument", "X-Amz-Date does not match the credential's date")
        return date_stamp

    @staticmethod
    def _decode_policy(encoded: str) -> dict:
        """The policy with `expiration` as an aware datetime and conditions normalised to
        `[name, "eq"|"starts-with", value]` (lower-case names) or `["content-length-range", min, max]`."""
        def bad(why: str) -> LocalStorageError:
            return LocalStorageError("InvalidPolicyDocument", f"Invalid Policy: {why}")

        try:
            document = json.loads(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            raise bad("not base64-encoded JSON") from None
        if not isinstance(document, dict) or not isinstance(document.get("conditions"), list):
            raise bad("missing conditions")
        raw = document.get("expiration")
        try:
            expiration = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
        except ValueError:
            raise bad("invalid expiration") from None
        if expiration.tzinfo is None:
            expiration = expiration.replace(tzinfo=timezone.utc)
        conditions: list[list] = []
        for item in document["conditions"]:
            if isinstance(item, dict) and len(item) == 1:
                (name, value), = item.items()
                if not isinstance(value, str):
                    raise bad(f"condition value of {name} must be a string")
                conditions.append([name.lower().lstrip("$"), "eq", value])
            elif isinstance(item, list) and len(item) == 3 and item[0] == "content-length-range":
                low, high = item[1], item[2]
                try:
                    low, high = int(low), int(high)
                except (TypeError, ValueError):
                    raise bad("content-length-range needs integers") from None
                conditions.append(["content-length-range", low, high])
            elif (isinstance(item, list) and len(item) == 3 and str(item[0]).lower() in ("eq", "starts-with")
                  and isinstance(item[1], str) and item[1].startswith("$") and isinstance(item[2], str)):
                conditions.append([item[1][1:].lower(), str(item[0]).lower(), item[2]])
            else:
                raise bad(f"unsupported condition {json.dumps(item)}")
        return {"expiration": expiration, "conditions": conditions}
