"""Who may ask, and how much: the API key (Authorization: Bearer KEY), requests addressed to localhost only while
bound there, and the request body's size."""

import hmac
import json

from desktune.serve.api_error import ApiError, bad_request
from desktune.ui.guard import host_header_ok

NO_KEY = ("You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer "
          "auth (i.e. Authorization: Bearer YOUR_KEY)")


def check_access(headers, key: str | None, local: bool) -> None:
    """401 without the right key (when the server has one); 403 for a request addressed to another host while bound
    to localhost (a web page that rebinds its DNS name to 127.0.0.1) or sent by a web page of another site (a
    browser names it in Origin; SDKs and curl send none), so no page a user visits can drive the model."""
    if not host_header_ok(local, headers.get("host", "")):
        raise ApiError(403, "this server answers requests addressed to localhost only", kind="permission_error")
    origin = headers.get("origin")
    if origin and origin.split("://", 1)[-1] != headers.get("host", ""):
        raise ApiError(403, f"a request from a web page of another site ({origin}) is refused",
                       kind="permission_error")
    if key is None:
        return
    scheme, _, given = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise ApiError(401, NO_KEY, code="invalid_api_key")
    if not hmac.compare_digest(given.strip().encode(), key.encode()):
        raise ApiError(401, "Incorrect API key provided", code="invalid_api_key")


async def read_json_body(request, limit: int) -> dict:
    """The body as a JSON object; 413 past limit bytes (read no further than that), 400 for anything but JSON."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    raw = bytearray()
    async for part in request.stream():
        raw += part
        if len(raw) > limit:
            raise _too_large(limit)
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise bad_request("We could not parse the JSON body of your request: send a JSON object with Content-Type: "
                          "application/json") from None
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    return body


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"the request body is larger than this server takes ({limit:,} bytes)",
                    code="request_too_large")
