"""The error a use-case raises for its client: an HTTP code and a message saying what to do."""


class ApiError(Exception):
    """An error the client can act on: an HTTP code and a message saying what to do."""

    def __init__(self, code: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.headers = headers or {}
