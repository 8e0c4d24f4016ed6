"""The service's small exception family.

Every error the storage, worker and CLI layers raise on purpose derives from
:class:`ServiceError`; the HTTP layer maps each subclass to one status code
(404, 409, 503, ...). Driver errors (SQLAlchemy, psycopg, sqlite3) are translated
into :class:`StorageUnavailableError` in one place (``service/storage/_engine.py``)
with ``raise ... from e`` so the cause stays in the traceback but never reaches a
client.
"""

from __future__ import annotations

__all__ = [
    "ConflictError",
    "NotFoundError",
    "ServiceError",
    "StorageUnavailableError",
    "UnsafeSettingsError",
]


class ServiceError(Exception):
    """Base class of every error the service raises on purpose."""


#: The API's collection of each resource (the one place the not-found message is built).
_PLURALS = {"study": "studies", "comparison": "comparisons", "dataset": "datasets"}


class NotFoundError(ServiceError, LookupError):
    """A study, comparison or worker id that does not exist.

    Attributes:
        resource: What was looked up (``"study"``, ``"comparison"``).
        id: The id that was not found.
    """

    def __init__(self, resource: str, id: str) -> None:
        self.resource = resource
        self.id = id
        plural = _PLURALS.get(resource, f"{resource.replace(' ', '_')}s")
        super().__init__(
            f"{resource} {id!r} does not exist; list the existing ones with "
            f"GET /api/v1/{plural}"
        )


class ConflictError(ServiceError):
    """The request contradicts the current state (e.g. deleting a study that a
    comparison still uses, or a database whose schema is newer than this code)."""


class StorageUnavailableError(ServiceError):
    """The database cannot be reached or answered with a driver error."""


class UnsafeSettingsError(ServiceError, ValueError):
    """Settings that would expose the service unsafely (e.g. a public host without a token)."""
