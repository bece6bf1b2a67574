"""`grade serve`: the LMS integration, from a push or an upload to a grade in the gradebook.

One idea per module:
  config     grader.toml: the server, the courses (secrets, git base URL, LTI platform,
             assignments and their line items, the roster), the tool's key
  context    what every part shares: the config, the database, the data folders, the lock
  db         the tables (SQLAlchemy 2) and the session; migrations/ (alembic) applied at start
  intake     POST /webhooks/github and POST /api/submissions: verified, deduplicated, stored
             immutably, a job queued; answered at once
  fetch      the pushed commit, fetched with git from the course's own base URL, unpacked by
             grader/batch/unpack.py's rules
  jobs       the job logic (Grader: fetch, one grading per (assignment, content hash,
             versions) through the unique `gradings` row, a grading process per job in the
             docker backend, report and passback in one transaction) and the worker pool
             inside `grade serve` that runs it on SQLite; jobs of a dead server taken again
  queue      PostgreSQL: procrastinate, the tasks "grade job N" (deferred in the job's own
             transaction, queueing lock per submission) and the periodic reaper of stalled
             jobs (heartbeats; failed after 3 retries)
  worker     `grade worker [--concurrency N]`: procrastinate workers running Grader.run on
             any machine; its own SIGTERM handling (gradings under way finish)
  sources    a submission's sources in the database too (PostgreSQL), for workers elsewhere
  metrics    GET /metrics (Prometheus text format), read from the database
  passback   LTI 1.3 AGS: the access token (client assertion), the score POST, the outbox
             (retries, superseded, failed)
  keys       the tool's RSA key: the client assertions' signer, the public JWKS
  lti        the LTI launch: OIDC login initiation and the id_token, to learn the user and
             the line item; the tool's JWKS
  pages      the student's report page, the JSON API, the instructor's views, health
  app        the FastAPI application and the server's life (lock, migrations, threads),
             `grade serve --check`

The machinery in ../shared/research/platforms.md §4-5 (LTI AGS, GitHub webhooks) and its
traps (timestamps, at-least-once delivery) are cited where they decide something.
"""
