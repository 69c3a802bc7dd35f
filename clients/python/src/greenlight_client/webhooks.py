"""Verifying Greenlight's webhooks, signed the Standard Webhooks way (https://www.standardwebhooks.com)."""

import base64
import binascii
import hashlib
import hmac
import json
import time

from .errors import WebhookVerificationError

__all__ = ["verify_webhook", "sign_webhook", "TOLERANCE_SECONDS"]

#: How far ``webhook-timestamp`` may be from now, either way; an older message is treated as a replay.
TOLERANCE_SECONDS = 5 * 60


def _key(secret):
    if not isinstance(secret, str) or not secret.startswith("whsec_"):
        raise ValueError("the webhook secret must be whsec_ followed by the key in base64 (as GREENLIGHT_CALLBACK_SECRET)")
    try:
        key = base64.b64decode(secret[len("whsec_"):], validate=True)
    except binascii.Error:
        raise ValueError("the webhook secret must be whsec_ followed by valid base64") from None
    # As Greenlight takes them: 24 to 64 random bytes. A shorter key (an empty one, say) signs nothing worth checking.
    if not 24 <= len(key) <= 64:
        raise ValueError("the webhook secret's key must be 24 to 64 bytes (it is %d)" % len(key))
    return key


def _signature(key, webhook_id, timestamp, body):
    content = ("%s.%s." % (webhook_id, timestamp)).encode("utf-8") + body
    return base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode("ascii")


def sign_webhook(secret, webhook_id, timestamp, body):
    """The ``webhook-signature`` value (``v1,<base64>``) for a body: what Greenlight sends, for tests of a receiver."""
    return "v1," + _signature(_key(secret), webhook_id, int(timestamp), body)


def verify_webhook(headers, body, secret, now=None):
    """Checks a received webhook and returns its JSON body (a dict).

    ``headers``: the request's headers (a dict, a list of pairs, or an ``http.client.HTTPMessage``; names in any
    case). ``body``: the raw bytes as received — not re-encoded JSON. ``secret``: the ``whsec_…`` secret
    (GREENLIGHT_CALLBACK_SECRET, or the request's callbackSecret). Raises ``WebhookVerificationError`` unless the
    timestamp is within five minutes of ``now`` and one ``v1`` signature matches (compared in constant time).
    Receivers should also drop a ``webhook-id`` they have seen: retries carry the same id.
    """
    key = _key(secret)
    if isinstance(body, str):
        body = body.encode("utf-8")
    items = headers.items() if hasattr(headers, "items") else headers
    found = {str(name).lower(): str(value) for name, value in items}
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        if name not in found:
            raise WebhookVerificationError("the %s header is missing: this is not a Standard Webhooks message" % name)
    try:
        timestamp = int(found["webhook-timestamp"])
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not a whole number of seconds since 1970") from None
    now = time.time() if now is None else now
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        raise WebhookVerificationError("webhook-timestamp is more than 5 minutes from now (a replay, or a clock to fix)")
    expected = _signature(key, found["webhook-id"], timestamp, body)
    matched = False
    for candidate in found["webhook-signature"].split(" "):
        version, _, signature = candidate.partition(",")
        # Every candidate is compared, whichever matches: the time taken does not tell which one did.
        if version == "v1" and hmac.compare_digest(signature.encode("ascii", "replace"), expected.encode("ascii")):
            matched = True
    if not matched:
        raise WebhookVerificationError("no v1 signature in webhook-signature matches the body with this secret")
    try:
        return json.loads(body)
    except ValueError:
        raise WebhookVerificationError("the signed body is not JSON") from None
