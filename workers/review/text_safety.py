"""Chat text is hostile input: render it as text, make invisible tricks visible, flag lookalikes.

:func:`reveal` escapes the text (never trusts it as markup), shows bidi controls, zero-width and
tag characters as ``⟨U+202E⟩`` markers, and marks words that mix look-alike scripts (``pаypal``
with a Cyrillic ``а``), fullwidth or mathematical letters. :func:`warnings` lists what was found,
for the banner above the item. :func:`reveal_plain` writes the same markers into plain text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from markupsafe import Markup, escape

BIDI_CONTROLS = frozenset([*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C])
INVISIBLE = frozenset(
    [0x200B, 0x200C, 0x200D, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064, 0xFEFF, 0x00AD, 0x180E, 0x115F, 0x1160, 0x3164]
)
_WORD = re.compile(r"\w+", re.UNICODE)
_LOOKALIKE_SCRIPTS = ("LATIN", "CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE", "COPTIC")
_MAX_COMBINING_RUN = 2


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str  # bidi | invisible | control | tag | mixed_script | fullwidth | styled | combining
    detail: str


def is_hidden(char: str) -> bool:
    """Characters that change how text looks or reads without being seen."""
    code = ord(char)
    if code in BIDI_CONTROLS or code in INVISIBLE or 0xE0000 <= code <= 0xE007F:
        return True
    return unicodedata.category(char) in ("Cc", "Cf", "Co", "Cs") and char not in "\n\t"


def marker(char: str) -> str:
    return f"⟨U+{ord(char):04X}⟩"


def scripts_of(word: str) -> set[str]:
    """Look-alike-prone scripts used by the letters of ``word`` (CJK and digits are ignored)."""
    found = set()
    for char in word:
        name = unicodedata.name(char, "")
        if name.startswith("FULLWIDTH LATIN"):
            found.add("FULLWIDTH")
        elif name.startswith("MATHEMATICAL"):
            found.add("MATHEMATICAL")
        else:
            script = name.split(" ", 1)[0]
            if script in _LOOKALIKE_SCRIPTS:
                found.add(script)
    return found


def suspicious_word(word: str) -> str | None:
    """Why a word may imitate another, or None."""
    scripts = scripts_of(word)
    if "MATHEMATICAL" in scripts:
        return "styled mathematical letters"
    if "FULLWIDTH" in scripts:
        return "fullwidth letters mixed with others" if len(scripts) > 1 else "fullwidth letters"
    if len(scripts - {"FULLWIDTH"}) > 1:
        return "mixed scripts: " + "+".join(sorted(s.title() for s in scripts))
    return None


def findings(text: str | None) -> list[Finding]:
    """Each hidden character and each look-alike word once, in order of first appearance.

    Distinct characters and words are collected first (at C speed), so a megabyte of chat costs
    a scan, not a Python step per character.
    """
    if not text:
        return []
    result = [
        Finding(_hidden_kind(char), f"{marker(char)} {unicodedata.name(char, 'unnamed')}")
        for char in dict.fromkeys(text)
        if is_hidden(char)
    ]
    result.extend(Finding("mixed_script", f"{word!r}: {why}") for word, why in _lookalike_words(text).items())
    if _combining_runs(text):
        result.append(Finding("combining", "stacked combining marks"))
    return result


def warnings(*texts: str | None) -> list[str]:
    """One line per distinct finding over all ``texts``."""
    lines: list[str] = []
    for text in texts:
        for finding in findings(text):
            line = f"{_TITLES[finding.kind]}: {finding.detail}"
            if line not in lines:
                lines.append(line)
    return lines


def reveal(text: str | None) -> Markup:
    """Escaped HTML for ``text`` with hidden characters shown and look-alike words marked.

    Runs of ordinary characters are escaped whole; only the characters that need a marker and the
    words that need marking are handled one by one, so a long text costs a few scans.
    """
    if not text:
        return Markup("")
    special = _special_characters(text)
    marked = _lookalike_words(text)
    parts: list[str] = []
    position = 0
    if marked:
        for match in _WORD.finditer(text):
            why = marked.get(match.group())
            if why is None:
                continue
            parts.append(_reveal_chars(text[position : match.start()], special))
            parts.append(
                f'<mark class="lookalike" title="{escape(why)}">{_reveal_chars(match.group(), special)}</mark>'
            )
            position = match.end()
    parts.append(_reveal_chars(text[position:], special))
    return Markup("".join(parts))


def reveal_plain(text: str) -> str:
    """``text`` as plain text with hidden characters written as markers (for titles and the like)."""
    return "".join(marker(char) if hidden else char for hidden, char in _shown(text))


def _lookalike_words(text: str) -> dict[str, str]:
    """Each distinct word of ``text`` that may imitate another, with why."""
    found = {}
    for word in dict.fromkeys(_WORD.findall(text)):
        why = None if word.isascii() else suspicious_word(word)
        if why is not None:
            found[word] = why
    return found


def _special_characters(text: str) -> re.Pattern[str] | None:
    """A pattern matching runs of the characters of ``text`` that are hidden or combining."""
    special = [char for char in dict.fromkeys(text) if is_hidden(char) or unicodedata.combining(char)]
    if not special:
        return None
    return re.compile("([" + "".join(re.escape(char) for char in special) + "]+)")


def _reveal_chars(chunk: str, special: re.Pattern[str] | None) -> str:
    if special is None:
        return str(escape(chunk))
    pieces = special.split(chunk)  # ordinary, special run, ordinary, ...
    return "".join(_reveal_run(piece) if index % 2 else str(escape(piece)) for index, piece in enumerate(pieces))


def _reveal_run(run: str) -> str:
    """A run of hidden and combining characters (ordinary text on both sides)."""
    return "".join(
        f'<span class="hidden-char" title="{escape(unicodedata.name(char, "control"))}">{marker(char)}</span>'
        if hidden
        else str(escape(char))
        for hidden, char in _shown(run)
    )


def _shown(chunk: str) -> Iterator[tuple[bool, str]]:
    """(hidden, character) for each character to show; stacked combining runs are cut short."""
    combining = 0
    for char in chunk:
        if is_hidden(char):
            combining = 0
            yield True, char
            continue
        if unicodedata.combining(char):
            combining += 1
            if combining > _MAX_COMBINING_RUN:
                continue  # drop the rest of a stacked run: it only serves to paint over other text
        else:
            combining = 0
        yield False, char


def _combining_runs(text: str) -> bool:
    if not any(unicodedata.combining(char) for char in dict.fromkeys(text)):
        return False
    run = 0
    for char in text:
        run = run + 1 if unicodedata.combining(char) else 0
        if run > _MAX_COMBINING_RUN:
            return True
    return False


def _hidden_kind(char: str) -> str:
    code = ord(char)
    if code in BIDI_CONTROLS:
        return "bidi"
    if 0xE0000 <= code <= 0xE007F:
        return "tag"
    if code in INVISIBLE or unicodedata.category(char) == "Cf":
        return "invisible"
    return "control"


_TITLES = {
    "bidi": "bidirectional control",
    "invisible": "invisible character",
    "control": "control character",
    "tag": "tag character (hidden ASCII)",
    "mixed_script": "look-alike word",
    "combining": "combining marks",
}
