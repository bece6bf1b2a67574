"""The pushed commit, fetched with git, unpacked by the batch's rules.

The URL is the course's configured git base URL and the repository's name (checked by the
course's repo_pattern before it gets here); a host named in the webhook payload (its
clone_url, html_url...) is never contacted. git runs with no user or system config, no
prompt, a short list of protocols and a deadline. The commit is fetched by its id (GitHub
and `uploadpack.allowAnySHA1InWant` servers allow it); where a server refuses that, the
pushed ref is fetched and the commit must be in it. The tree then leaves git as a tar
stream (`git archive`, size-capped) and is unpacked by grader/batch/unpack.py: no path
escape, no link out, the caps against a repository full of big files.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path

from grader.batch.unpack import Budget, MiB, TooLarge, unpack

GIT_TIMEOUT_S = 120
SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
PROTOCOLS = "file:git:http:https:ssh"


class FetchError(Exception):
    """The commit could not be fetched: one line (the server's own words, cut)."""


def repository_url(base_url: str, repository: str) -> str:
    return f"{base_url.rstrip('/')}/{repository}.git"


def shown(url: str) -> str:
    """A URL without its credentials (a token in the base URL), for messages and pages."""
    return re.sub(r"^([a-z]+://)[^/@]*@", r"\1", url)


def _git(args: list[str], cwd: Path, home: Path, **kwargs) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
           "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
           "GIT_TERMINAL_PROMPT": "0", "GIT_ALLOW_PROTOCOL": PROTOCOLS, "LC_ALL": "C"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, timeout=GIT_TIMEOUT_S,
                          stdin=subprocess.DEVNULL, check=False, **kwargs)


def fetch_commit(base_url: str, repository: str, commit: str, ref: str, dest: Path,
                 budget: Budget) -> None:
    """The tree of `commit` of base_url/repository.git, unpacked into `dest`."""
    if not SHA.match(commit):
        raise FetchError(f"{commit!r} is not a commit id")
    url = repository_url(base_url, repository)
    public = shown(url)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fetch-", dir=dest.parent) as tmp:
        where = Path(tmp)
        repo = where / "repo.git"
        init = _git(["init", "-q", "--bare", str(repo)], where, where, capture_output=True)
        if init.returncode:
            raise FetchError(f"git init failed: {init.stderr.decode(errors='replace')[-300:]}")
        try:
            done = _git(["fetch", "-q", "--no-tags", "--depth=1", url, commit], repo, where,
                        capture_output=True)
            if done.returncode and ref.startswith("refs/heads/"):
                done = _git(["fetch", "-q", "--no-tags", url, f"+{ref}:{ref}"], repo, where,
                            capture_output=True)
        except subprocess.TimeoutExpired:
            raise FetchError(f"git fetch of {public} did not finish within {GIT_TIMEOUT_S} s"
                             ) from None
        if done.returncode:
            why = done.stderr.decode(errors="replace").replace(url, public).strip().splitlines()
            raise FetchError(f"git fetch {public} {commit[:12]} failed: "
                             f"{shown(why[-1])[:300] if why else done.returncode}")
        known = _git(["cat-file", "-e", f"{commit}^{{commit}}"], repo, where,
                     capture_output=True)
        if known.returncode:
            raise FetchError(f"{public}: commit {commit[:12]} is not on {ref or 'the server'}")
        archive = where / "tree.tar"
        _archive(repo, where, commit, archive, budget.caps.total_bytes + MiB)
        unpack(archive, dest, budget)


def _archive(repo: Path, home: Path, commit: str, out: Path, limit: int) -> None:
    """`git archive` of the commit into `out`, refused past `limit` bytes."""
    with open(out, "wb") as handle:
        proc = subprocess.Popen(["git", "archive", "--format=tar", commit], cwd=repo,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                stdin=subprocess.DEVNULL,
                                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                                     "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1",
                                     "GIT_CONFIG_GLOBAL": os.devnull})
        written = 0
        try:
            while chunk := proc.stdout.read(1 << 16):
                written += len(chunk)
                if written > limit:
                    raise TooLarge(f"the repository's tree is larger than {limit // MiB} MiB")
                handle.write(chunk)
        except BaseException:
            proc.kill()
            raise
        finally:
            proc.stdout.close()
            proc.wait()
    if proc.returncode:
        raise FetchError(f"git archive {commit[:12]} failed (exit {proc.returncode})")
