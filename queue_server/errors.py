"""Domain errors: what an operation refuses, with a machine code and a human message.

Messages are English templates marked for translation; the API and the screens translate
them for the caller's language and fill in the parameters.
"""

from __future__ import annotations

from typing import Any


def N_(message: str) -> str:  # noqa: N802  (gettext's conventional marker name)
    """Mark a message for extraction into the catalogues without translating it here."""
    return message


class DomainError(Exception):
    status = 400
    code = "invalid"
    #: A refusal whose record is part of the answer (a failed login's audited event): the
    #: unit of work commits what was written before it, then lets the refusal go on.
    recorded = False

    def __init__(self, message: str, *, code: str | None = None, **params: Any) -> None:
        # ``code`` is the machine code: a message must not use %(code)s as a parameter.
        assert "%(code)s" not in message, "name the parameter otherwise: code is the machine code"
        super().__init__(message % params if params else message)
        self.template = message
        self.params = params
        if code:
            self.code = code

    def as_dict(self) -> dict[str, Any]:
        return {"error": self.code, "message": str(self), **self.extra()}

    def extra(self) -> dict[str, Any]:
        return {}


class ValidationFailed(DomainError):
    status = 400
    code = "invalid"


class NotAuthenticated(DomainError):
    status = 401
    code = "unauthenticated"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class IllegalTransition(Conflict):
    """An action that the token's current state does not allow. Nothing was changed."""

    code = "illegal_transition"

    def __init__(self, action: str, current: str) -> None:
        super().__init__(N_("Cannot %(action)s a token that is %(current)s."), action=action, current=current)
        self.action = action
        self.current = current

    def extra(self) -> dict[str, Any]:
        return {"current_state": self.current}


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"


class FieldInvalid(ValidationFailed):
    """A value refused for one field (an administration change, a form, a booking);
    ``where`` names the field for the form. Its code is "bad_value" unless a more precise
    one is given ("invalid_cnic"); never "invalid", which the API keeps for bodies that fail
    their schema."""

    code = "bad_value"

    def __init__(self, where: str, message: str, **params: Any) -> None:
        super().__init__(message, **params)
        self.where = where

    def extra(self) -> dict[str, Any]:
        return {"field": self.where}


class FieldTaken(FieldInvalid):
    """A name or code that another row holds already: the request was well formed, the
    state of the data refuses it (409, like any conflict), and the field is named."""

    status = 409
    code = "taken"
