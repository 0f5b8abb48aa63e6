"""Reading a user's text file (a task or a dataset): every problem names the file and the fix.

UTF-8 is the format; a byte-order mark selects UTF-8, UTF-16 or UTF-32 as YAML and JSON allow.
Anything else (Latin-1, Windows-1252, UTF-16 without a mark) is refused with the line and byte
of the first offending character and a hint at the encoding it looks like.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from honed.errors import ConfigError

_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
         (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
         (codecs.BOM_UTF16_BE, "utf-16-be"))


def read_bytes(path: Path, error: type[ConfigError], what: str = "file") -> bytes:
    """The file's bytes; a missing file, a folder or an unreadable path raises ``error``."""
    try:
        if path.is_dir():
            raise error(f"expected a {what}, found a directory", file=str(path))
        return path.read_bytes()
    except FileNotFoundError:
        raise error(f"{what} not found", file=str(path),
                    fix="check the path (relative paths resolve against the task file)"
                    ) from None
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte, no permission
        reason = getattr(exc, "strerror", None) or str(exc)
        raise error(f"cannot read the {what}: {reason}", file=_shown(path),
                    fix="check the path and its permissions") from None


def _shown(path: Path) -> str:
    text = str(path).replace("\x00", "\\0")
    return text if len(text) <= 120 else f"{text[:60]}...{text[-40:]}"


def decode(raw: bytes, path: Path, error: type[ConfigError]) -> str:
    """Text of ``raw``: UTF-8, or the encoding its byte-order mark names."""
    encoding, body = "utf-8", raw
    for bom, name in _BOMS:
        if raw.startswith(bom):
            encoding, body = name, raw[len(bom):]
            break
    if encoding == "utf-8" and _utf16_like(body):
        raise error("not UTF-8: it looks like UTF-16 without a byte-order mark", file=str(path),
                    fix="re-save the file as UTF-8 (or UTF-16 with a BOM)")
    try:
        return body.decode(encoding)
    except UnicodeDecodeError as exc:
        line = body[:exc.start].count(b"\n") + 1
        raise error(f"not {encoding.upper()} (byte {exc.start}: "
                    f"{body[exc.start:exc.start + 1]!r})", file=str(path), line=line,
                    fix=_hint(body)) from None


def _utf16_like(body: bytes) -> bool:
    """Many NUL bytes on one side of each byte pair: text in UTF-16 (no UTF-8 text has them)."""
    head = body[:4096]
    return len(head) >= 4 and max(head[0::2].count(0), head[1::2].count(0)) > len(head) // 4


def _hint(body: bytes) -> str:
    try:
        body.decode("cp1252")
    except UnicodeDecodeError:
        return "re-save the file as UTF-8"
    return "it looks like Latin-1 / Windows-1252: re-save the file as UTF-8"


def read_text(path: Path, error: type[ConfigError], what: str = "file") -> str:
    return decode(read_bytes(path, error, what), path, error)
