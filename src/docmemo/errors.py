"""Domain errors. Services raise these; one handler in docmemo.web maps them to HTTP."""

from __future__ import annotations


class DomainError(Exception):
    status_code = 400
    detail = "Bad request"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.detail)
        self.detail = detail or self.detail

    @property
    def headers(self) -> dict[str, str] | None:
        return None


class InvalidInput(DomainError):
    status_code = 422
    detail = "Invalid input"

    def __init__(self, detail: str | None = None, field: str | None = None) -> None:
        super().__init__(detail)
        # The parameter at fault, where there is one: a form shows the message beside it.
        self.field = field


class NotAuthenticated(DomainError):
    status_code = 401
    detail = "Not logged in"

    @property
    def headers(self) -> dict[str, str]:
        # RFC 9110 asks a 401 to name a scheme: the session token as a bearer token.
        return {"WWW-Authenticate": 'Bearer realm="docmemo"'}


class InvalidCredentials(NotAuthenticated):
    detail = "Invalid name or password"


class Forbidden(DomainError):
    status_code = 403
    detail = "Not allowed"


class NotFound(DomainError):
    status_code = 404
    detail = "Not found"


class NameTaken(DomainError):
    status_code = 409
    detail = "This name is already taken (names ignore case)"


class TooManyAttempts(DomainError):
    status_code = 429
    detail = "Too many failed logins for this account; try again later"

    def __init__(self, retry_after_s: int) -> None:
        super().__init__()
        self.retry_after_s = max(1, retry_after_s)

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}


class TooManyAttemptsFromAddress(TooManyAttempts):
    detail = "Too many failed logins from this address; try again later"


class DatabaseUnavailable(DomainError):
    status_code = 503
    detail = "The database is unavailable; try again shortly"


class NotReady(DomainError):
    status_code = 503
    detail = "The service is not ready yet"


class RebuildInProgress(DomainError):
    status_code = 409
    detail = "Another rebuild of the registry is running; nothing was changed"
