"""The Submarine response envelope, for successes and errors alike."""

from http import HTTPStatus


class ApiError(Exception):
    """An error the client can act on: an HTTP code and a message saying what to do."""

    def __init__(self, code: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.headers = headers or {}


def envelope(code: int, message: str | None = None, result=None, attributes: dict | None = None) -> dict:
    """``status`` is the HTTP reason in JAX-RS enum style: OK, BAD_REQUEST, NOT_FOUND, ..."""
    return {
        "status": HTTPStatus(code).name,
        "code": code,
        "success": code < 400,
        "message": message,
        "result": result,
        "attributes": attributes or {},
    }
