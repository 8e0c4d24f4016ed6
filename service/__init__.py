"""ShrinkNets search service: HTTP API, dashboard, settings, storage, workers and CLI.

Subpackages: ``service.storage`` (persistence over the Optuna RDB storage),
``service.worker`` (processes that run trials), ``service.api`` / ``service.web``
(HTTP), ``service.cli`` (the ``shrinknets`` command). Importing ``service`` itself
loads nothing heavy.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
