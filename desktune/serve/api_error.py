"""A request the server refuses, in OpenAI's error shape: {"error": {"message", "type", "param", "code"}}."""

from desktune.errors import DesktuneError


class ApiError(DesktuneError):
    """status: the HTTP code; kind, param and code: OpenAI's error type, the request field at fault and a short
    machine-readable code; headers: extra response headers (Retry-After)."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error", headers: dict | None = None):
        super().__init__(message)
        self.status, self.param, self.code, self.kind, self.headers = status, param, code, kind, headers or {}

    def body(self) -> dict:
        return error_body(self.message, self.kind, self.param, self.code)


def error_body(message: str, kind: str, param: str | None = None, code: str | None = None) -> dict:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def bad_request(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param, code)
