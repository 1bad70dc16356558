"""Form bodies as ``http.RequestData`` gives them: url-encoded and ``multipart/form-data``.

Both arrive whole (the body is bounded by ``ASyncApp(max_body_size=...)``) and become a dict
of field name to value; a repeated field keeps its last value. Multipart parsing is done by
``python-multipart`` (``pip install 'trio_apistar[multipart]'``), file fields become
:class:`UploadedFile`.
"""

from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import parse_qsl

from .exceptions import BadRequest, UnsupportedMediaType

__all__ = ["UploadedFile", "parse_multipart", "parse_urlencoded"]


@dataclass(frozen=True)
class UploadedFile:
    """A file field of a multipart form: its name on the client, type, bytes and part headers."""

    filename: str
    content_type: str
    content: bytes
    headers: dict[str, str] = field(default_factory=dict)


def parse_urlencoded(body: bytes) -> dict[str, str]:
    """Parse an ``application/x-www-form-urlencoded`` body; ``BadRequest`` if not UTF-8."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("The form body is not valid UTF-8") from None
    return dict(parse_qsl(text, keep_blank_values=True))


def parse_multipart(body: bytes, content_type: str) -> dict[str, str | UploadedFile]:
    """Parse a ``multipart/form-data`` body whose Content-Type header is ``content_type``.

    Raises ``BadRequest`` for a malformed body (no boundary, broken parts, a part without a
    name, a text field that is not UTF-8) and ``UnsupportedMediaType`` if python-multipart is
    not installed.
    """
    try:
        from python_multipart.exceptions import MultipartParseError
        from python_multipart.multipart import MultipartParser, parse_options_header
    except ImportError:
        raise UnsupportedMediaType(
            "multipart/form-data bodies need python-multipart: "
            "pip install 'trio_apistar[multipart]'"
        ) from None
    boundary = parse_options_header(content_type)[1].get(b"boundary")
    if not boundary:
        raise BadRequest("A multipart/form-data body needs a boundary in its Content-Type")
    parts = _Parts(parse_options_header)
    parser = MultipartParser(boundary, cast(Any, parts.callbacks()))
    try:
        parser.write(body)
        parser.finalize()
    except MultipartParseError as exc:
        raise BadRequest(f"Malformed multipart body: {exc}") from None
    if not parts.complete:
        raise BadRequest("Malformed multipart body: it ends before its closing boundary")
    return parts.fields


class _Parts:
    """Collects the parts python-multipart reports through its callbacks."""

    def __init__(self, parse_options_header: Any) -> None:
        self._parse_options = parse_options_header
        self.fields: dict[str, str | UploadedFile] = {}
        self.complete = False
        self._headers: dict[str, str] = {}
        self._name = bytearray()
        self._value = bytearray()
        self._data = bytearray()

    def callbacks(self) -> dict[str, Any]:
        def extend(buffer: bytearray) -> Any:
            return lambda data, start, end: buffer.extend(data[start:end])

        return {
            "on_part_begin": self._begin,
            "on_header_field": extend(self._name),
            "on_header_value": extend(self._value),
            "on_header_end": self._header_end,
            "on_part_data": extend(self._data),
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _begin(self) -> None:
        self._headers = {}
        self._data.clear()

    def _header_end(self) -> None:
        name = self._name.decode("latin-1").lower()
        self._headers[name] = self._value.decode("latin-1")
        self._name.clear()
        self._value.clear()

    def _part_end(self) -> None:
        disposition = self._parse_options(self._headers.get("content-disposition", ""))[1]
        name = disposition.get(b"name")
        if not name:
            raise BadRequest("Malformed multipart body: a part has no name")
        key = name.decode("utf-8", errors="replace")
        filename = disposition.get(b"filename")
        if filename is not None:
            self.fields[key] = UploadedFile(
                filename.decode("utf-8", errors="replace"),
                self._headers.get("content-type", "application/octet-stream"),
                bytes(self._data),
                dict(self._headers),
            )
            return
        try:
            self.fields[key] = self._data.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest(f"Form field {key!r} is not valid UTF-8") from None

    def _end(self) -> None:
        self.complete = True
