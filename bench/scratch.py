"""A throwaway world for a benchmark (data folder, database, Redis, Django), and its table."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


@contextmanager
def scratch_environment(name: str, **extra_env: str) -> Iterator[Path]:
    """Set up Django on a fresh data folder and migrated database; yield the folder.

    The database is SQLite in that folder unless DATABASE_URL is set, Redis a
    private one unless REDIS_URL is set; both go away afterwards. Child
    processes inherit the same settings through os.environ.
    """
    from gradient.private_redis import start_private_redis

    data_dir = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    os.environ.update(extra_env)
    os.environ["GRADIENT_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("SECRET_KEY", f"bench-{name}")
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{data_dir / 'bench.sqlite3'}")
    os.environ["DJANGO_SETTINGS_MODULE"] = "gradient.settings"
    os.environ["PYTHONUNBUFFERED"] = "1"
    redis = None
    try:
        if not os.environ.get("REDIS_URL"):
            redis = start_private_redis(data_dir / "redis")
            os.environ["REDIS_URL"] = redis.url
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        yield data_dir
    finally:
        if redis is not None:
            redis.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def print_table(heading: str, columns: tuple[str, str, str], rows: list[tuple]) -> None:
    """Rows of (what, value, target, met) under `heading`; met is True, False or None."""
    width = max(len(columns[0]), *(len(row[0]) for row in rows))
    print(f"\n{heading}")
    print(f"{columns[0]:<{width}} {columns[1]:>14} {columns[2]:>16}  met")
    for name, value, target, met in rows:
        shown = "-" if met is None else "yes" if met else "NO"
        print(f"{name:<{width}} {value:>14} {target:>16}  {shown}")
