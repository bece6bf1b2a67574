"""The database's migrations (alembic), applied by `grade serve` at start.

A new migration, after changing grader/service/db.py (from the repository's root):

    python -m grader.service.migrations revision -m "what changed"

writes versions/NNNN_what_changed.py from the difference between db.py and an empty
database brought to the latest migration; read it before committing it.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

HERE = Path(__file__).resolve().parent


def alembic_config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("path_separator", "os")
    config.attributes["engine"] = engine
    return config


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """What autogenerate compares: our tables, not procrastinate's (migration 0003)."""
    return not (type_ == "table" and name and name.startswith("procrastinate_"))


def upgrade(engine: Engine) -> None:
    command.upgrade(alembic_config(engine), "head")


def main() -> None:
    import argparse
    import tempfile

    from grader.service.db import make_engine

    parser = argparse.ArgumentParser(prog="python -m grader.service.migrations")
    parser.add_argument("action", choices=["revision"])
    parser.add_argument("-m", "--message", required=True)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{folder}/scratch.db")
        config = alembic_config(engine)
        command.upgrade(config, "head")
        count = len(list((HERE / "versions").glob("[0-9]*.py")))
        command.revision(config, message=args.message, autogenerate=True,
                         rev_id=f"{count + 1:04d}")

