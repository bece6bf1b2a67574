"""Test data that is the same on every run: a check's inputs come from a seed, never from
the clock, so a grading can be repeated byte for byte."""

from __future__ import annotations

import random

WORDS = ["signal", "kill", "bit", "byte", "pause", "mask", "handler", "pid", "ack", "zero",
         "one", "Linux", "SIGUSR1", "SIGUSR2", "message", "server", "client", "42", "(ok)"]


def sentence(seed: int, chars: int) -> bytes:
    """`chars` bytes of words and punctuation (printable ASCII), the same for a seed."""
    rng = random.Random(seed)
    words, length = [], 0
    while length < chars:  # a list joined once: megabytes in a moment
        words.append(rng.choice(WORDS) + rng.choice([" ", " ", ", ", ". ", "; ", "! "]))
        length += len(words[-1])
    return "".join(words)[:chars].encode()


def random_bytes(seed: int, count: int) -> bytes:
    """`count` bytes of every value (NUL included), the same for a seed."""
    return random.Random(seed).randbytes(count)
