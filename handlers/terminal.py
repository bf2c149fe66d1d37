"""Text from someone else (a webhook receiver's answer, a Telegram group's title) made safe to
print on the board's terminal: no control characters, so no escape sequence can retitle the
window, move the cursor or hide what was printed. Rich markup is escaped where it is printed."""

from __future__ import annotations

REPLACEMENT = "\ufffd"


def printable(text: str, *, limit: int | None = None, newlines: bool = False) -> str:
    """``text`` with every control character (but line breaks, when ``newlines``) replaced,
    trimmed, and cut to ``limit`` characters with an ellipsis."""
    kept = "\n" if newlines else ""
    cleaned = "".join(c if c.isprintable() or c in kept else REPLACEMENT for c in text).strip()
    if limit is not None and len(cleaned) > limit:
        return cleaned[:limit] + "…"
    return cleaned
