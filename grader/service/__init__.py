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
  jobs       the worker pool inside `grade serve`: one grading process per job (docker
             backend), results reused by (assignment, content hash, versions), jobs of a dead
             server taken again
  passback   LTI 1.3 AGS: the access token (client assertion), the score POST, the outbox
             (retries, superseded, failed)
  keys       the tool's RSA key: the client assertions' signer, the public JWKS
  lti        the LTI launch: OIDC login initiation and the id_token, to learn the user and
             the line item; the tool's JWKS
  pages      the student's report page, the JSON API, the instructor's views, health
  app        the FastAPI application and the server's life (lock, migrations, threads)

The machinery in ../shared/research/platforms.md §4-5 (LTI AGS, GitHub webhooks) and its
traps (timestamps, at-least-once delivery) are cited where they decide something.
"""
