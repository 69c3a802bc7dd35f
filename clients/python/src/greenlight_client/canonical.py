"""RFC 8785 (JSON Canonicalization Scheme) and the digest of an agent's action.

Greenlight's outcome carries ``actionDigest``: the lowercase hex SHA-256 of the canonical JSON of
``{"tool": ..., "arguments": ...}``. An agent that computes the same digest over the call it is about to make, and
finds it equal, runs exactly what the approver saw — not a call edited after the approval.
"""

import hashlib
import math

__all__ = ["canonical_json", "action_digest"]


def canonical_json(value):
    """The RFC 8785 canonical text of a JSON value (dicts, lists, str, int, float, bool, None)."""
    out = []
    _write(value, out)
    return "".join(out)


def action_digest(action):
    """The lowercase hex SHA-256 of the canonical JSON of ``{"tool": action["tool"], "arguments": action["arguments"]}``."""
    if not isinstance(action, dict) or not isinstance(action.get("tool"), str) or not isinstance(action.get("arguments"), dict):
        raise ValueError('an action is a dict {"tool": str, "arguments": dict}')
    text = canonical_json({"tool": action["tool"], "arguments": action["arguments"]})
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _write(value, out):
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, (int, float)):
        # I-JSON: an integer a double cannot hold exactly would be hashed as another number (Greenlight refuses such
        # an argument too); send it as a string.
        if isinstance(value, int) and abs(value) >= 2 ** 53:
            raise ValueError("%d is beyond ±2^53, which JSON numbers do not hold exactly; send it as a string" % value)
        out.append(_number(float(value)))
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out)
        out.append("]")
    elif isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise TypeError("JSON object keys must be strings, not %r" % (key,))
        out.append("{")
        # Sorted by UTF-16 code units: big-endian UTF-16 bytes compare in the same order.
        for index, key in enumerate(sorted(value, key=lambda k: k.encode("utf-16-be", "surrogatepass"))):
            if index:
                out.append(",")
            out.append(_string(key))
            out.append(":")
            _write(value[key], out)
        out.append("}")
    else:
        raise TypeError("not a JSON value: %r" % (type(value).__name__,))


_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _string(text):
    """A string as ECMAScript's JSON.stringify writes it: only quote, backslash and controls escaped."""
    parts = ['"']
    for char in text:
        if char in _SHORT_ESCAPES:
            parts.append(_SHORT_ESCAPES[char])
        elif char < " ":
            parts.append("\\u%04x" % ord(char))
        elif "\ud800" <= char <= "\udfff":
            raise ValueError("a string holds a lone surrogate, which JSON text cannot carry")
        else:
            parts.append(char)
    parts.append('"')
    return "".join(parts)


def _number(value):
    """A double as ECMAScript's Number.prototype.toString writes it (RFC 8785 section 3.2.2.3)."""
    if not math.isfinite(value):
        raise ValueError("NaN and the infinities are not JSON numbers")
    if value == 0:
        return "0"
    # repr is the shortest digit string that reads back as the same double; only the layout differs from ECMAScript.
    text = repr(abs(value))
    mantissa, _, exponent = text.partition("e")
    whole, _, fraction = mantissa.partition(".")
    # value = 0.d1d2…dk × 10^n, without leading or trailing zeros among the digits
    digits = whole + fraction
    n = len(whole) + (int(exponent) if exponent else 0)
    n -= len(digits) - len(digits.lstrip("0"))
    digits = digits.strip("0")
    k = len(digits)
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:
        body = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        body = "0." + "0" * (-n) + digits
    else:
        power = n - 1
        body = (digits if k == 1 else digits[0] + "." + digits[1:]) + "e" + ("-" if power < 0 else "+") + str(abs(power))
    return ("-" if value < 0 else "") + body
