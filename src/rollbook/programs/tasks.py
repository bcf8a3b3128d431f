"""Celery tasks of the programs app."""

from __future__ import annotations

from celery import shared_task

from rollbook.programs import jobs

# A job that runs longer than this is stopped (and ends failed) instead of blocking its program's uploads.
JOB_SOFT_TIME_LIMIT = 3600
JOB_TIME_LIMIT = JOB_SOFT_TIME_LIMIT + 60


@shared_task(
    name="programs.run_enrollment_job",
    acks_late=True,
    ignore_result=True,
    soft_time_limit=JOB_SOFT_TIME_LIMIT,
    time_limit=JOB_TIME_LIMIT,
)
def run_enrollment_job_task(job_uuid: str) -> str:
    """Write an uploaded enrollment job (see ``programs.jobs.run_enrollment_job``); return its final state."""
    return jobs.run_enrollment_job(job_uuid).state
