"""Request-level limits in front of Gradio's routes (an ASGI middleware), for what
Gradio does not bound itself:

- an upload request (``/upload``) may carry at most ``max_upload_bytes`` in all
  (Gradio's ``max_file_size`` is per file: ten 45 MB files in one POST were taken);
- an upload whose client goes away midway leaves no partial file behind (Gradio
  deletes its temporary files only when the multipart parser fails, not when the
  client disconnects, so they stayed until the hourly cache cleanup);
- an API call's JSON body (``/queue/join``, ``/run/...``, ``/call/...``) may be at
  most ``max_json_bytes``, and a ``fn_index`` that names no event is a 422 with one
  line (Gradio answered HTTP 500 with a ``KeyError``).

Both upload faults end the request through Gradio's own error path: the multipart
parser deletes the files it wrote when reading the body raises ``MultiPartException``.
No maintained middleware does this for Gradio's private upload route, hence these
few lines.
"""

from __future__ import annotations

import json

from gradio.route_utils import MultiPartException
from starlette.responses import PlainTextResponse

API_PATHS = ("/queue/join", "/run/", "/call/", "/api/")  # JSON calls of an event
DRAIN_BYTES = 64 * 2**20  # of a refused body, read before answering (never kept)


class RequestGuard:
    """ASGI middleware: ``Middleware(RequestGuard, blocks=app, max_upload_bytes=...)``.

    Args:
        app: the ASGI app it wraps (Starlette passes it).
        blocks: the ``gr.Blocks`` served, whose events ``fn_index`` may name.
        max_upload_bytes: the most one upload request may carry, all files together.
        max_json_bytes: the most one API call's JSON body may hold.
    """

    def __init__(self, app, blocks, max_upload_bytes: int, max_json_bytes: int):
        self.app = app
        self.blocks = blocks
        self.max_upload_bytes = max_upload_bytes
        self.max_json_bytes = max_json_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        path = scope["path"]
        if path.rstrip("/").endswith("/upload"):
            return await self._upload(scope, receive, send)
        if any(part in path for part in API_PATHS):
            return await self._api_call(scope, receive, send)
        return await self.app(scope, receive, send)

    async def _upload(self, scope, receive, send):
        limit = self.max_upload_bytes
        if content_length(scope) > limit:
            return await refuse(limit, scope, receive, send)
        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            if message["type"] == "http.disconnect":  # the parser deletes its files
                raise MultiPartException("The client went away during the upload.")
            received += len(message.get("body", b""))
            if received > limit:  # a body longer than its Content-Length says
                raise MultiPartException(over_limit(limit))
            return message

        return await self.app(scope, counted, send)

    async def _api_call(self, scope, receive, send):
        if content_length(scope) > self.max_json_bytes:
            return await refuse(self.max_json_bytes, scope, receive, send)
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_json_bytes:
                return await refuse(self.max_json_bytes, scope, receive, send)
        if problem := self._bad_fn_index(body):
            return await PlainTextResponse(problem, 422)(scope, receive, send)
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send)

    def _bad_fn_index(self, body: bytes) -> str | None:
        """Why the call's ``fn_index`` names no event of the page, or None."""
        try:
            index = json.loads(body).get("fn_index")
        except (ValueError, AttributeError):
            return None  # not a JSON object: Gradio's own validation answers
        if index is None or (type(index) is int and index in self.blocks.fns):
            return None
        return f"error: fn_index {str(index)[:20]!r} names no event of this page"


def content_length(scope) -> int:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


def over_limit(limit: int) -> str:
    # Gradio's upload route answers 413 for a message with "maximum allowed size"
    return f"Request size exceeded maximum allowed size of {limit} bytes in all."


async def refuse(limit: int, scope, receive, send) -> None:
    """Answer 413. Up to ``DRAIN_BYTES`` of the body are read (and dropped) first:
    a client still sending when the server closes sees a reset, not the answer."""
    drained, more = 0, True
    while more and drained < DRAIN_BYTES:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        drained += len(message.get("body", b""))
        more = message.get("more_body", False)
    await PlainTextResponse(over_limit(limit), 413)(scope, receive, send)
