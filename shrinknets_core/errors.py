"""The one exception family of :mod:`shrinknets_core`.

Every error the library raises on purpose derives from :class:`ShrinkNetsError`, so
callers (the studies layer, the service) can catch the family in one place.
:class:`StopTraining` is deliberately *not* an error: a callback raises it to end a
training run cleanly.
"""

from __future__ import annotations

__all__ = ["ConfigError", "DatasetError", "ShrinkNetsError", "StopTraining"]


class ShrinkNetsError(Exception):
    """Base class of every error raised on purpose by :mod:`shrinknets_core`."""


class ConfigError(ShrinkNetsError, ValueError):
    """A bad argument; the message names the field, the value and the allowed range.

    Attributes:
        field: the field at fault, when the error is about one (dotted), else ``None``.
        detail: what is wrong with it, without the field's name.
    """

    def __init__(self, message: str, *, field: str | None = None,
                 detail: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.detail = detail if detail is not None else message

    @classmethod
    def about(cls, field: str, detail: str) -> ConfigError:
        """The error about ``field``: its message is ``field <field>: <detail>``."""
        return cls(f"field {field}: {detail}", field=field, detail=detail)


class DatasetError(ShrinkNetsError):
    """A missing or malformed data file; the message names the file, the problem, the fix."""


class StopTraining(Exception):
    """Raised by a training callback to end training cleanly after the current step."""
