"""Checks of the kit's test assignment: each exercises one feature of the plugin."""

import time

import pytest

WORDS = ["alpha", "bravo", "charlie", "delta"]


@pytest.mark.parametrize("word", WORDS)
def test_words(student, word):
    upper = student.spawn("upper", word)
    upper.expect_line(word.upper(), 2)


@pytest.mark.parametrize("word", ["one", "hang", "two", "three"])
def test_hangs_sometimes(student, word):
    upper = student.spawn("upper", word)
    upper.expect_line(word.upper(), 10)  # the case budget, not this timeout, ends a hang


def test_waits_long(student):
    started = time.monotonic()
    upper = student.spawn("upper", "late")
    upper.expect_line("LATE", 2)
    time.sleep(4 - (time.monotonic() - started))  # the scenario: a check that lasts 4 s


def test_exit_status(student):
    student.spawn("upper", "x").expect_exit(0, within=2)
