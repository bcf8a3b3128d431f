"""The bench/ harness: it picks a scratch database and runs end to end with a tiny row count."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import bench

REPO_ROOT = Path(bench.__file__).resolve().parent.parent


def test_default_scratch_database_is_under_var_bench(monkeypatch):
    monkeypatch.delenv("ROLLBOOK_DATABASE_URL", raising=False)
    assert bench.scratch_database_url() == f"sqlite:///{REPO_ROOT / 'var' / 'bench' / 'bench.sqlite3'}"


def test_a_sqlite_development_url_in_the_environment_is_ignored(monkeypatch):
    monkeypatch.setenv("ROLLBOOK_DATABASE_URL", f"sqlite:///{REPO_ROOT / 'var' / 'rollbook.sqlite3'}")
    assert "var/bench/" in bench.scratch_database_url()


def test_postgres_urls_get_a_scratch_database_name(monkeypatch):
    monkeypatch.setenv("ROLLBOOK_DATABASE_URL", "postgres://me:pw@db.example:5432/rollbook")
    assert bench.scratch_database_url() == "postgres://me:pw@db.example:5432/rollbook_bench"
    assert bench.scratch_database_url("postgres://h/already_bench") == "postgres://h/already_bench"
    assert bench.redacted("postgres://me:pw@db.example:5432/rollbook_bench") == (
        "postgres://me:***@db.example:5432/rollbook_bench"
    )


def test_the_development_database_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("ROLLBOOK_DATA_DIR", str(tmp_path))
    with pytest.raises(SystemExit):
        bench.scratch_database_url(f"sqlite:///{tmp_path / 'rollbook.sqlite3'}")


def test_bulk_enroll_benchmark_runs_with_a_few_rows(tmp_path):
    environment = {**os.environ, "COLUMNS": "200"}
    listing = subprocess.run(
        [sys.executable, "-m", "bench", "--list"], cwd=REPO_ROOT, env=environment, capture_output=True, text=True
    )
    assert listing.returncode == 0, listing.stderr
    assert "bulk_enroll" in listing.stdout

    scratch = tmp_path / "bench.sqlite3"
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "bulk_enroll", "--rows", "25", "--database-url", f"sqlite:///{scratch}"],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    assert "25 enrollments" in completed.stdout
    assert "rows/s" in completed.stdout
    assert "ratio bulk_enroll / executemany" in completed.stdout
    assert scratch.exists()
