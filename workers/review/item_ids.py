"""Event ids in item URLs: one path segment that no server or browser rewrites.

The worker accepts any non-empty id up to the ingestion limit: ``/``, ``..``, ``%``, ``?``, ``#``,
spaces, any Unicode. Percent-encoding is not enough in a path: servers decode ``%2F`` before
routing, and browsers resolve a segment ``..`` (or ``%2e%2e``) before sending. So an id made only
of characters that need no encoding (and not starting with a dot) is its own segment, readable;
any other id is ``~`` followed by its UTF-8 in unpadded base64url, which no one rewrites.
"""

from __future__ import annotations

import base64
import binascii
import re

from fastapi import HTTPException

from guardstream.limits import ID_CHARS as MAX_ID_CHARS

"""The longest event id the worker accepts, so the longest an item can have."""

ENCODED_MARK = "~"
_PLAIN = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
_MAX_SEGMENT_CHARS = len(ENCODED_MARK) + (MAX_ID_CHARS * 4 * 4 + 2) // 3  # 4 UTF-8 bytes per character


def to_segment(event_id: str) -> str:
    """The path segment that names ``event_id`` in item URLs."""
    if _PLAIN.fullmatch(event_id):
        return event_id
    encoded = base64.urlsafe_b64encode(event_id.encode("utf-8")).rstrip(b"=")
    return ENCODED_MARK + encoded.decode("ascii")


def from_segment(segment: str) -> str | None:
    """The event id a segment names, or None when no item can have it."""
    if len(segment) > _MAX_SEGMENT_CHARS:
        return None
    if not segment.startswith(ENCODED_MARK):
        return segment if _PLAIN.fullmatch(segment) and len(segment) <= MAX_ID_CHARS else None
    encoded = segment[len(ENCODED_MARK) :]
    if not _BASE64URL.fullmatch(encoded):
        return None
    try:
        event_id = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return event_id if 0 < len(event_id) <= MAX_ID_CHARS and "\x00" not in event_id else None


def item_event_id(segment: str) -> str:
    """FastAPI dependency of the item routes: the ``{segment}`` path parameter as an event id."""
    event_id = from_segment(segment)
    if event_id is None:
        raise HTTPException(status_code=404, detail="no flagged item with this event_id")
    return event_id
