"""Ids at the edges of what ingestion accepts: every one gets a verdict, so every reader must cope.

Shared by the ``fuzz`` chaos scenario (which sends events carrying them) and the review app's
browser tests (which open, claim, label and skip them): path characters and dot segments,
percent-encodings, query and fragment marks, markup, invisible and right-to-left marks, emoji
sequences, combining marks, full-width forms, and ids exactly :data:`~guardstream.limits.ID_CHARS`
long. Control characters and lone surrogates are not among them: no id may hold those.
"""

from __future__ import annotations

import random

from guardstream.limits import ID_CHARS

PIECES: tuple[str, ...] = (
    "/", "//", ".", "..", "../", "./", "%2F", "%2f", "%2E%2E", "%252F", "\\", "..\\", "?", "?x=1&y=2", "#",
    "#frag", "&amp;", ";", ":", "@", "+", "%", "%%", "%00", "~", " ", "  ", "'", '"', "`", "<b>", "<script>x</script>",
    "{{7*7}}", "${x}", "'; DROP TABLE verdicts;--", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u200e",
    "\u200f", "\u202a", "\u202e", "\u2066", "\u2069", "\u061c", "👩\u200d👩\u200d👧\u200d👦", "🏳\ufe0f\u200d🌈",
    "👍🏽", "🇨🇳", "e\u0301", "Z\u0334\u0321\u032a\u0344\u0310a\u0338l\u0335g\u0336o\u0337", "\u0301",
    "ＡＢＣ", "／", "．．", "％２Ｆ", "长", "ٱلسَّلَامُ", "שָׁלוֹם", "\ufffd", "\uffff", "\ufffe", "\U0010fffd",
    "\U0001d54f", "\u3000x", "ǅ", "ß", "İ", "ﬁ", "\u2028x", "\u00a0",
)  # fmt: skip
"""Pieces an id may hold that break naive routing, escaping, normalising or display."""

_BARE: tuple[str, ...] = (
    ".",
    "..",
    "...",
    "/",
    "//",
    "/..",
    "../",
    "./.",
    "%2F",
    "%2E%2E",
    "..%2F..",
    "?",
    "#",
    "\\",
    "~",
)
"""Whole ids, with nothing else around them: included only when no tag is asked for."""


def reviewable_ids(tag: str = "", seed: int = 0, extra: int = 40) -> list[str]:
    """Distinct ids that ingestion accepts, each holding ``tag``, the hardest first.

    Every piece of :data:`PIECES` leads one id, ends another and stands alone in a third (with
    ``tag`` around it); then ids exactly ``ID_CHARS`` long; then ``extra`` random mixes. Without a
    ``tag`` the bare shapes (``.``, ``..``, ``/``, …) come first: give a tag unique to the run
    where the audit store is shared, none where it is fresh.
    """
    rng = random.Random(seed)
    ids = [] if tag else list(_BARE)
    for piece in PIECES:
        ids += [f"{piece}{tag}x", f"x{tag}{piece}", f"{tag}{piece}"]
    for fill in ("长", "😀", "/..", "e\u0301", "\u200f", "%2F", "👩\u200d👧"):
        ids.append(_exactly(f"{tag}-", fill, ID_CHARS))
    for _ in range(extra):
        body = "".join(rng.choices(PIECES, k=rng.randint(1, 12)))[: ID_CHARS - len(tag)]
        at = rng.randint(0, len(body))
        ids.append(body[:at] + tag + body[at:])
    return [value for value in dict.fromkeys(ids) if value and not value.isspace()]  # a blank id is empty


def _exactly(head: str, fill: str, length: int) -> str:
    return (head + fill * length)[:length]
