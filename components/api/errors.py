"""The API's exceptions: every one names what was wrong (a dotted field, the missing part, the ids).

Fields are named as in the request body: ``customers[0].features.tenure_months``,
``customers[2].customer_id``, ``events[5].cart_value``, ``scenario``. The local and the HTTP client
raise the same classes for the same mistakes (the HTTP client translates serving's 4xx bodies).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class ChurnguardError(Exception):
    """Base class of every error the API raises on purpose."""


@dataclass(frozen=True)
class FieldError:
    """One invalid field: ``field`` is dotted (``customers[0].features.age``), ``message`` says why."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class InvalidInput(ChurnguardError, ValueError):
    """The input has invalid fields. ``errors`` lists them (at most 20 are spelled out in the message)."""

    def __init__(self, errors: Sequence[FieldError], total: int | None = None):
        self.errors = tuple(errors)
        self.total = total if total is not None else len(self.errors)
        shown = "; ".join(str(e) for e in self.errors[:20])
        more = f" (and {self.total - 20} more)" if self.total > 20 else ""
        super().__init__(f"invalid input: {shown}{more}")

    @property
    def field(self) -> str:
        """The first invalid field."""
        return self.errors[0].field if self.errors else ""

    @classmethod
    def one(cls, field: str, message: str) -> InvalidInput:
        return cls([FieldError(field, message)])


class UnknownCustomers(ChurnguardError, KeyError):
    """Customer ids with no batch row, no online features and no request features."""

    def __init__(self, customer_ids: Sequence[str]):
        self.customer_ids = tuple(customer_ids)
        ids = ", ".join(self.customer_ids[:10]) + (" ..." if len(self.customer_ids) > 10 else "")
        super().__init__(f"unknown customer ids (no batch row, no online or request features): {ids}")

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0])


class MissingPart(ChurnguardError):
    """The loaded model version lacks the bundle part a call needs (e.g. ``interventions``)."""

    def __init__(self, part: str, model_version: str | None, parts: Sequence[str]):
        self.part, self.model_version, self.parts = part, model_version, tuple(parts)
        super().__init__(
            f"model version {model_version} has no {part!r} part (its parts: {', '.join(self.parts) or 'none'})"
        )


class ModelUnavailable(ChurnguardError):
    """No model could be loaded: the registry is unreachable, the version is unknown or was refused
    (its artifacts do not match the digest recorded at registration), or the service has none yet."""


class ServiceError(ChurnguardError):
    """The HTTP service answered an error the API does not map to a more specific class."""

    def __init__(self, status: int, message: str, retry_after: float | None = None):
        self.status, self.retry_after = status, retry_after
        super().__init__(f"HTTP {status}: {message}")


class Unauthorized(ServiceError):
    """401: a missing or unknown API key."""


class RateLimited(ServiceError):
    """429: the key's rate limit is spent; ``retry_after`` seconds until it refills."""
