"""Run a block under the C locale, where a file opened without an encoding is read and written as ASCII.

A config file that names its encoding reads the same under any locale; one that leaves it to the
locale breaks on its first non-ASCII character here. (Under Python's UTF-8 mode the locale does not
choose the encoding, and both read alike.)
"""

from __future__ import annotations

import locale
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def c_locale() -> Iterator[None]:
    previous = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")
    try:
        yield
    finally:
        locale.setlocale(locale.LC_CTYPE, previous)
