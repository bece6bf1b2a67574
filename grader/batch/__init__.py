"""`grade batch`: a whole class in one command, resumable, with a gradebook and a class report.

One idea per module:
  intake      INPUT (a folder, a .zip or .tar of submissions or of per-student archives, an
              LMS export) to one Intake per submission: whose, and its clean sources
  unpack      the rules of safe unpacking, and the cleaning of one submission; or a verdict
  identity    who a submission belongs to, from the LMS export's names, and the roster
  store       one result file per submission, written the moment it exists; what a rerun skips
  runner      the gradings in parallel, each in its own process and sandbox; interrupts
  worker      one grading, in a process of its own
  verdicts    the named verdicts an instructor counts
  progress    a live bar on a terminal, plain lines elsewhere
  gradebook   gradebook.csv, and the Canvas and Moodle import layouts
  similarity  pairs of submissions whose code is alike (copydetect), the reference excluded
  classreport the class report: one HTML file with inline SVG plots

Nothing here knows an assignment: `grade batch` works for any of them unchanged.

The entry point is grader.batch.runner.run_batch; nothing is imported here, so that a worker
(grader.batch.worker) starts with the grading engine alone.
"""
