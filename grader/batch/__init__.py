"""`grade batch`: a whole class in one command, resumable, with a gradebook and a class report.

One idea per module:
  unpack      the input (a folder, a .zip or .tar of submissions or of per-student archives)
              into one clean folder per submission, safely, or a named verdict
  identity    who a submission belongs to, from the LMS export's names, and the roster
  store       one result file per submission, written the moment it exists; what a rerun skips
  runner      the gradings in parallel, each in its own process and sandbox; interrupts
  progress    a live bar on a terminal, plain lines elsewhere
  gradebook   gradebook.csv, and the Canvas and Moodle import layouts
  similarity  pairs of submissions whose code is alike (copydetect), the reference excluded
  classreport the class report: one HTML file with inline SVG plots

Nothing here knows an assignment: `grade batch` works for any of them unchanged.
"""

from grader.batch.runner import BatchError, BatchOptions, run_batch

__all__ = ["BatchError", "BatchOptions", "run_batch"]
