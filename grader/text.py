"""Program output as feedback text: decoded without ever failing, and kept short.

A student's output can hold any bytes and any amount of them; feedback must stay valid text
and fit on a screen. `shorten` keeps the end of a long output (the last lines say most about
what went wrong); `show` gives one line, quoted, the way a check quotes what it sent.
"""

from __future__ import annotations


def decode(data: bytes) -> str:
    """Bytes as text; invalid UTF-8 survives as surrogate escapes (re-encodable exactly)."""
    return data.decode("utf-8", "surrogateescape")


def shorten(text: str, limit: int = 600) -> str:
    """Keep the end of a long output: the last lines say most about what went wrong."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if len(text) <= limit:
        return text
    return f"[... {len(text) - limit} characters before ...]\n" + text[-limit:]


def show(data: str | bytes, limit: int = 80) -> str:
    """One quoted line for feedback: `'1\\n2\\n0\\n'`, or `'000...07' (4098 bytes)` when long."""
    if isinstance(data, bytes):
        data = decode(data)
    data = data.encode("utf-8", "backslashreplace").decode("utf-8")
    if len(data) <= limit:
        return repr(data)
    head = limit * 2 // 3
    return f"{data[:head]!r}...{data[-(limit - head):]!r} ({len(data)} characters)"


def show_lines(lines: list[str], limit: int = 12) -> str:
    """Lines for feedback, one quoted per line, at most `limit` of them."""
    shown = "\n".join(show(line, 60) for line in lines[:limit])
    more = f"\n... and {len(lines) - limit} more lines" if len(lines) > limit else ""
    return (shown + more) or "(no lines)"
