"""The errors the client raises: each says what to fix, and a refused call carries the server's problem body."""

__all__ = [
    "GreenlightError", "GreenlightHTTPError", "InvalidRequest", "Unauthorized", "Forbidden", "NotFound", "Conflict",
    "RateLimited", "Unavailable", "Unreachable", "UnexpectedAnswer", "WebhookVerificationError",
]


class GreenlightError(Exception):
    """Every error of this package."""


class GreenlightHTTPError(GreenlightError):
    """Intake refused the call. ``problem`` is its RFC 9457 problem body (a dict, or None when it sent none):
    ``detail`` says what to fix and ``errors`` lists ``{"field", "message"}`` for each bad field."""

    def __init__(self, method, path, status, problem):
        self.method = method
        self.path = path
        self.status = status
        self.problem = problem if isinstance(problem, dict) else None
        detail = (self.problem or {}).get("detail") or "intake answered HTTP %d" % status
        super().__init__("%s %s failed (HTTP %d): %s" % (method, path, status, detail))

    @property
    def detail(self):
        return (self.problem or {}).get("detail")

    @property
    def errors(self):
        """The field errors: a list of ``{"field": ..., "message": ...}`` (empty when the problem names none)."""
        return list((self.problem or {}).get("errors") or [])


class InvalidRequest(GreenlightHTTPError):
    """400 or 422: the body is malformed; ``errors`` names each field to fix."""


class Unauthorized(GreenlightHTTPError):
    """401: no API key, or one intake does not know (pass api_key or set GREENLIGHT_API_KEY)."""


class Forbidden(GreenlightHTTPError):
    """403: the key lacks the scope the call needs (submit, read)."""


class NotFound(GreenlightHTTPError):
    """404: no request has that id."""


class Conflict(GreenlightHTTPError):
    """409: the request id is taken by a request with other content."""


class RateLimited(GreenlightHTTPError):
    """429: too many calls; retry later."""


class Unavailable(GreenlightHTTPError):
    """502, 503, 504: intake cannot do the work now; retry later."""


_BY_STATUS = {400: InvalidRequest, 422: InvalidRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound,
              409: Conflict, 429: RateLimited, 502: Unavailable, 503: Unavailable, 504: Unavailable}


def http_error(method, path, status, problem):
    return _BY_STATUS.get(status, GreenlightHTTPError)(method, path, status, problem)


class Unreachable(GreenlightError):
    """Intake could not be reached (wrong URL, not running, network down)."""


class UnexpectedAnswer(GreenlightError):
    """Intake answered something this client does not understand (another version?)."""


class WebhookVerificationError(GreenlightError):
    """A received webhook is not one Greenlight signed with this secret, or is too old: do not act on it."""
