"""A grader.toml for the `grade serve` tests and bench/service_latency.py: one course (os101)
with a webhook secret, an upload secret and API token, an instructor token, the simulated
LTI platform, and one assignment (hw1 = assignment1, graded on a few checks)."""

from __future__ import annotations

from pathlib import Path

WEBHOOK_SECRET = "It's a Secret to Everybody"
UPLOAD_SECRET = "upload-secret-os101"
API_TOKEN = "api-token-os101"
INSTRUCTOR_TOKEN = "instructor-os101"
CHECKS = ("sums_rounds", "client_no_server")  # seconds on docker; a mutant fails the first


def write_config(folder: Path, *, platform=None, git_base_url: str = "", listen: str =
                 "127.0.0.1:8017", key: Path | None = None, workers: int = 1,
                 students: dict[str, str] | None = None, lineitem: str | None = None,
                 retry_base_s: float = 0.05, checks: tuple[str, ...] | None = CHECKS,
                 max_upload_bytes: int = 1 << 20, database: str | None = None,
                 server: dict[str, float] | None = None) -> Path:
    """folder/grader.toml; `students` maps a student key to their LTI user id (a roster);
    `database` a PostgreSQL URL (default: SQLite in DATA); `server` more [server] numbers."""
    lines = [
        "[server]",
        f'listen = "{listen}"',
        f'data = "{folder / "data"}"',
        f"workers = {workers}",
        f"retry_base_s = {retry_base_s}",
        "retry_max_s = 2",
        f"max_upload_bytes = {max_upload_bytes}",
        *([f'database = "{database}"'] if database else []),
        *(f"{k} = {v}" for k, v in (server or {}).items()),
        "",
    ]
    if key is not None:
        lines += ["[tool]", f'private_key = "{key}"', ""]
    lines += [
        "[courses.os101]",
        f'webhook_secret = "{WEBHOOK_SECRET}"',
        f'upload_secret = "{UPLOAD_SECRET}"',
        f'api_tokens = ["{API_TOKEN}"]',
        f'instructor_token = "{INSTRUCTOR_TOKEN}"',
        f'git_base_url = "{git_base_url}"',
        "",
    ]
    if platform is not None:
        lines += [
            "[courses.os101.lti]",
            f'issuer = "{platform.issuer}"',
            f'client_id = "{platform.client_id}"',
            f'deployment_id = "{platform.deployment_id}"',
            f'token_url = "{platform.token_url}"',
            f'auth_url = "{platform.url}/auth"',
            f'jwks_url = "{platform.url}/jwks"',
            "",
        ]
    lines += ["[courses.os101.assignments.hw1]", 'assignment = "assignment1"',
              'repo_pattern = "hw1-{login}"']
    if checks is not None:
        lines.append("only = [" + ", ".join(f'"{c}"' for c in checks) + "]")
    if lineitem is None and platform is not None:
        lineitem = platform.lineitem(1)
    if lineitem:
        lines.append(f'lineitem = "{lineitem}"')
    lines.append("")
    for student, user in (students or {}).items():
        lines += [f"[courses.os101.students.{student}]", f'github = "{student}"',
                  f'lti_user_id = "{user}"', ""]
    path = folder / "grader.toml"
    path.write_text("\n".join(lines))
    path.chmod(0o600)
    return path
