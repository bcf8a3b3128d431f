"""Rollbook: the roll of an online-learning business."""

from rollbook.celery import app as celery_app

__all__ = ["celery_app"]
