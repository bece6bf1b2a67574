"""What an assignment's checks.py may use: failures to raise. Fixtures come from the plugin."""

from grader.failure import Failure, Mismatch

__all__ = ["Failure", "Mismatch"]
