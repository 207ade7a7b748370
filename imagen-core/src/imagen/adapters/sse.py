"""Server-sent events (``text/event-stream``), read as they arrive and within a bound.

    async with api.stream("POST", "/v1/images", what="generate the image", json=body) as events:
        async for event in events:
            if event.event == "image.partial":
                progress.update(...)
            elif event.event == "image.completed":
                final = event.json()

The parsing follows the WHATWG rules: lines end in LF, CRLF or CR; ``data:`` lines are joined
with LF; a blank line ends an event; a line starting with ``:`` is a comment; an event without
a ``data`` line is not delivered; ``event`` defaults to ``message``. One leniency: an event the
server did not end with a blank line before closing is still delivered (some servers close
right after the last ``data:`` line, and that line holds the final image).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    import httpx

_BOM = b"\xef\xbb\xbf"


@attrs.frozen
class ServerEvent:
    """One event: its ``event`` name, its ``data`` (``data:`` lines joined) and the last ``id``."""

    event: str = "message"
    data: str = ""
    id: str | None = None

    def json(self) -> Any:
        """``data`` as JSON; ValueError when it is not JSON."""
        return json.loads(self.data)


class EventParser:
    """Bytes in, events out, in pieces of any size (a line may span many chunks: each byte is
    looked at once, so a multi-megabyte ``data:`` line costs no more than its length)."""

    def __init__(self) -> None:
        self._pending = bytearray()
        self._scan = 0  # where to look for the next line end in _pending
        self._started = False
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None

    def feed(self, chunk: bytes) -> list[ServerEvent]:
        buffer = self._pending
        buffer += chunk
        if not self._started:
            if len(buffer) < len(_BOM) and _BOM.startswith(bytes(buffer)):
                return []  # maybe the start of a byte order mark
            self._started = True
            if buffer.startswith(_BOM):
                del buffer[: len(_BOM)]
        events: list[ServerEvent] = []
        start, position = 0, self._scan
        while True:
            lf = buffer.find(b"\n", position)
            cr = buffer.find(b"\r", position, len(buffer) if lf < 0 else lf)
            if cr >= 0:
                if cr + 1 == len(buffer):  # maybe the first half of CRLF: wait for more
                    position = cr
                    break
                end, after = cr, cr + 2 if buffer[cr + 1] == 0x0A else cr + 1
            elif lf >= 0:
                end, after = lf, lf + 1
            else:
                position = len(buffer)
                break
            self._line(bytes(buffer[start:end]), events)
            start = position = after
        del buffer[:start]
        self._scan = position - start
        return events

    def close(self) -> list[ServerEvent]:
        """The events still held when the body ends (an unfinished last line counts as one)."""
        events: list[ServerEvent] = []
        rest = bytes(self._pending).rstrip(b"\r")
        self._pending.clear()
        self._scan = 0
        if rest:
            self._line(rest, events)
        self._line(b"", events)
        return events

    def _line(self, line: bytes, events: list[ServerEvent]) -> None:
        if not line:
            if self._data:
                events.append(
                    ServerEvent(self._event or "message", "\n".join(self._data), self._id)
                )
            self._event, self._data = "", []
            return
        if line[:1] == b":":
            return  # a comment (servers send them to keep the connection open)
        name, colon, value = line.partition(b":")
        if colon and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value.decode("utf-8", "replace"))
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id" and b"\0" not in value:
            self._id = value.decode("utf-8", "replace")
        # "retry" and unknown fields carry nothing an adapter acts on


class EventStream:
    """A 2xx answer being read: iterate it for its events (``async for event in stream``).

    ``is_events`` is False when the server answered with something else (a compatible server
    that ignores ``stream: true`` and sends its JSON at once): read that with :meth:`read`.
    The body counts against the ``limit`` of :meth:`HttpApi.stream` either way.
    """

    def __init__(self, response: httpx.Response, chunks: AsyncIterator[bytes]) -> None:
        self.response = response
        self._chunks = chunks

    @property
    def is_events(self) -> bool:
        kind = str(self.response.headers.get("content-type", ""))
        return kind.split(";")[0].strip().lower() == "text/event-stream"

    async def __aiter__(self) -> AsyncIterator[ServerEvent]:
        parser = EventParser()
        async for chunk in self._chunks:
            for event in parser.feed(chunk):
                yield event
        for event in parser.close():
            yield event

    async def read(self) -> bytes:
        """The rest of the body, whole."""
        return b"".join([chunk async for chunk in self._chunks])


__all__ = ["EventParser", "EventStream", "ServerEvent"]
