"""One error root, with precise subclasses; each surface maps them in one place."""

from __future__ import annotations


class OutreachError(Exception):
    """Root of every error Outreach raises on purpose."""

    status = 400
    code = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, str]:
        """The JSON body of this error."""
        body = {"code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        return body


class ConfigurationError(OutreachError):
    """A setting is missing or malformed."""

    status = 500
    code = "configuration"


class ValidationError(OutreachError):
    """Input is malformed; `field` names the culprit."""

    status = 422
    code = "invalid"


class MalformedBody(OutreachError):
    """A request body refused before it is parsed (nested too deep, too large)."""

    status = 400
    code = "malformed"


class NotFound(OutreachError):
    """The thing asked for does not exist."""

    status = 404
    code = "not_found"


class Conflict(OutreachError):
    """The request contradicts the current state."""

    status = 409
    code = "conflict"


class AuthenticationError(OutreachError):
    """Missing or wrong credentials."""

    status = 401
    code = "unauthorized"


class TooManyAttempts(OutreachError):
    """Too many failed sign-ins (or bad API tokens): refused unchecked until `retry_after`."""

    status = 429
    code = "throttled"

    def __init__(self, retry_after: int, what: str = "sign-ins") -> None:
        unit = "second" if retry_after == 1 else "seconds"
        super().__init__(f"Too many failed {what}; try again in {retry_after} {unit}")
        self.retry_after = retry_after


class ImportFileError(ValidationError):
    """A CSV file cannot be imported at all (not a bad row: a bad file)."""

    code = "import_file"
