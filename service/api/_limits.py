"""Request body size limits, enforced while the body streams in (never read whole first).

JSON routes get ``settings.max_body_bytes``; the dataset upload gets
``settings.max_upload_bytes`` plus room for the multipart envelope (the upload handler
then checks the file itself exactly). A declared ``Content-Length`` over the limit is
refused before any byte is read.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import ApiError, BodyTooLarge, error_response

__all__ = ["MULTIPART_SLACK_BYTES", "BodySizeLimitMiddleware"]

MULTIPART_SLACK_BYTES = 64 * 1024
"""Room for multipart boundaries and form fields around an uploaded file."""

_NO_BODY = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})


class BodySizeLimitMiddleware:
    """Answer 413 (in the API's error shape) to bodies over the limit.

    Args:
        app: The wrapped ASGI app.
        max_body_bytes: Limit for every route except uploads.
        max_upload_bytes: Limit of an uploaded file (``POST .../datasets``).
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes

    def _limit(self, scope: Scope) -> int:
        if scope["method"] == "POST" and scope["path"].rstrip("/").endswith("/datasets"):
            return self.max_upload_bytes + MULTIPART_SLACK_BYTES
        return self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _NO_BODY:
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            error = BodyTooLarge(limit)
            response = error_response(
                ApiError(413, "payload_too_large", str(error.detail), field="body",
                         allowed=f"<= {limit} bytes")
            )
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited_receive, send)
