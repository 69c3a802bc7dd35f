"""Greenlight's intake API over HTTP: submit, status, wait for the outcome."""

import json
import math
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request

from .errors import NotFound, Unreachable, UnexpectedAnswer, http_error

__all__ = [
    "GreenlightClient", "ENDPOINTS", "REQUEST_FIELDS", "STATUS_FIELDS_READ", "LONGEST_POLL_SECONDS",
    "RECORDING_GRACE_SECONDS", "manifest",
]

#: The intake operations this client calls: ``name: (method, path as OpenAPI writes it, query parameters)``.
#: Every call below builds its URL from here, and Greenlight's tests check each against deploy/openapi.yaml.
ENDPOINTS = {
    "submit": ("POST", "/v1/requests", ()),
    "status": ("GET", "/v1/requests/{requestId}", ()),
    "outcome": ("GET", "/v1/requests/{requestId}/outcome", ("wait",)),
}

#: The fields ``submit`` may send (the body of POST /v1/requests); any other name is refused before sending.
REQUEST_FIELDS = (
    "requestId", "title", "description", "details", "links", "metadata", "action", "approvers", "requester",
    "amount", "currency", "timeoutSeconds", "heartbeatTimeoutSeconds", "onTimeout", "policy", "remindAfterSeconds",
    "escalateAfterSeconds", "escalateTo", "notify", "responseSchema", "requireReason", "callbackUrl",
    "callbackSecret", "callbackLifecycle",
)

#: The fields of a request's status (RequestStatusBody) that this package reads itself.
STATUS_FIELDS_READ = ("requestId", "status", "actionDigest")

#: The longest single wait intake grants (``?wait=`` is 0…60); longer waits repeat the long-poll.
LONGEST_POLL_SECONDS = 60

#: How long ``wait_for_outcome`` takes "no such request" for "not recorded yet": intake answers 202 once the request
#: is queued, and its workflow records it moments later.
RECORDING_GRACE_SECONDS = 10


def manifest():
    """What this package depends on in intake's API, as JSON-ready data (for the check against OpenAPI)."""
    return {
        "endpoints": [
            {"name": name, "method": method, "path": path, "query": list(query)}
            for name, (method, path, query) in sorted(ENDPOINTS.items())
        ],
        "requestFields": list(REQUEST_FIELDS),
        "statusFieldsRead": list(STATUS_FIELDS_READ),
    }


class GreenlightClient:
    """A program's way to Greenlight's intake.

    ``base_url`` defaults to ``GREENLIGHT_INTAKE_URL`` (else http://127.0.0.1:8080); ``api_key`` to
    ``GREENLIGHT_API_KEY`` — the secret of one of intake's GREENLIGHT_API_KEYS, sent as ``Authorization: Bearer``
    (submitting needs the ``submit`` scope, reading and waiting ``read``).
    """

    def __init__(self, base_url=None, api_key=None, timeout=30.0, user_agent="greenlight-python-client"):
        base_url = base_url or os.environ.get("GREENLIGHT_INTAKE_URL") or "http://127.0.0.1:8080"
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key if api_key is not None else (os.environ.get("GREENLIGHT_API_KEY") or None)
        self.timeout = timeout
        self.user_agent = user_agent

    def submit(self, request=None, **fields):
        """Submits an approval request — a dict, keyword arguments, or both — and returns intake's answer
        (``{"message", "requestId", "statusUrl"}``). Fields set to None are left out. Names not in ``REQUEST_FIELDS`` raise ``ValueError`` before
        anything is sent (a misspelt field would otherwise be lost)."""
        body = dict(request or {})
        body.update(fields)
        body = {name: value for name, value in body.items() if value is not None}
        unknown = sorted(set(body) - set(REQUEST_FIELDS))
        if unknown:
            raise ValueError("not fields of an approval request: %s (known: %s)" % (", ".join(unknown), ", ".join(REQUEST_FIELDS)))
        return self._call("submit", body=body)

    def status(self, request_id):
        """The request's state now (RequestStatusBody, as a dict)."""
        return self._call("status", request_id=request_id)

    def outcome(self, request_id, wait=0):
        """One long-poll: the request's state as soon as it has ended, or after ``wait`` seconds (0…60) with
        ``status`` still ``"pending"``."""
        seconds = max(0, min(LONGEST_POLL_SECONDS, int(math.ceil(wait))))
        return self._call("outcome", request_id=request_id, query={"wait": seconds}, timeout=seconds + self.timeout)[0]

    def wait_for_outcome(self, request_id, timeout):
        """Waits until the request ends (approved, rejected, timed_out, cancelled, failed) and returns its final state;
        after ``timeout`` seconds returns its state then, still ``"pending"``. Repeats intake's long-poll, so the
        outcome arrives as soon as it is written. A request submitted a moment ago may not be recorded yet:
        ``NotFound`` is raised only after ``RECORDING_GRACE_SECONDS``."""
        first = time.monotonic()
        deadline = first + timeout
        while True:
            remaining = deadline - time.monotonic()
            seconds = max(0, min(LONGEST_POLL_SECONDS, int(math.ceil(remaining))))
            started = time.monotonic()
            try:
                state, retry_after = self._call(
                    "outcome", request_id=request_id, query={"wait": seconds}, timeout=seconds + self.timeout)
            except NotFound:
                if time.monotonic() >= min(deadline, first + RECORDING_GRACE_SECONDS):
                    raise
                time.sleep(0.25)
                continue
            if state.get("status") != "pending" or time.monotonic() >= deadline:
                return state
            # Answered before the wait asked for while still pending: pause as intake says, not ask again at once.
            if time.monotonic() - started < seconds:
                time.sleep(max(0.0, min(retry_after, deadline - time.monotonic())))

    # -- HTTP

    def _call(self, name, request_id=None, query=None, body=None, timeout=None):
        method, template, _ = ENDPOINTS[name]
        path = template
        if request_id is not None:
            path = template.replace("{requestId}", urllib.parse.quote(str(request_id), safe=""))
        url = self.base_url + path + ("?" + urllib.parse.urlencode(query) if query else "")
        headers = {"User-Agent": self.user_agent, "Accept": "application/json, application/problem+json"}
        if self.api_key:
            headers["Authorization"] = "Bearer " + self.api_key
        data = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":"), allow_nan=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as response:
                status, raw, retry_after = response.status, response.read(), response.headers.get("Retry-After")
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                problem = json.loads(raw)
            except ValueError:
                problem = None
            raise http_error(method, template, error.code, problem) from None
        except (urllib.error.URLError, socket.timeout, ConnectionError) as error:
            raise Unreachable("cannot reach intake at %s (%s): check base_url or GREENLIGHT_INTAKE_URL" % (self.base_url, error)) from None
        try:
            answer = json.loads(raw)
        except ValueError:
            raise UnexpectedAnswer("%s %s answered HTTP %d with a body that is not JSON" % (method, template, status)) from None
        if not isinstance(answer, dict):
            raise UnexpectedAnswer("%s %s answered HTTP %d with JSON that is not an object" % (method, template, status))
        if name == "outcome":
            try:
                seconds = float(retry_after) if retry_after else 1.0
            except ValueError:
                seconds = 1.0
            return answer, seconds
        return answer
