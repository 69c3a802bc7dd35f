"""Greenlight's Python client: request a human's approval, wait for it, verify its signed webhooks, and check that an
approved agent action is the one about to run. Standard library only."""

from .canonical import action_digest, canonical_json
from .client import ENDPOINTS, LONGEST_POLL_SECONDS, RECORDING_GRACE_SECONDS, REQUEST_FIELDS, STATUS_FIELDS_READ, GreenlightClient, manifest
from .errors import (
    Conflict, Forbidden, GreenlightError, GreenlightHTTPError, InvalidRequest, NotFound, RateLimited, Unauthorized,
    Unavailable, UnexpectedAnswer, Unreachable, WebhookVerificationError,
)
from .webhooks import TOLERANCE_SECONDS, sign_webhook, verify_webhook

__all__ = [
    "GreenlightClient", "action_digest", "canonical_json", "verify_webhook", "sign_webhook", "manifest",
    "ENDPOINTS", "REQUEST_FIELDS", "STATUS_FIELDS_READ", "LONGEST_POLL_SECONDS", "RECORDING_GRACE_SECONDS",
    "TOLERANCE_SECONDS",
    "GreenlightError", "GreenlightHTTPError", "InvalidRequest", "Unauthorized", "Forbidden", "NotFound", "Conflict",
    "RateLimited", "Unavailable", "Unreachable", "UnexpectedAnswer", "WebhookVerificationError",
]
