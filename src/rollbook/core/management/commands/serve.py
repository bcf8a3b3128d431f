"""``rollbook serve``: collect static files and run gunicorn on the configured address."""

import os
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve Rollbook with gunicorn (static files collected first)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("ROLLBOOK_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("ROLLBOOK_PORT", "8000")))
        parser.add_argument("--workers", type=int, default=int(os.environ.get("ROLLBOOK_WORKERS", "2")))

    def handle(self, *args, host: str, port: int, workers: int, **options):
        settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
        call_command("collectstatic", interactive=False, verbosity=0)
        self.stdout.write(f"Rollbook on http://{host}:{port}/  (API docs: http://{host}:{port}/api/docs/)")
        gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
        os.execv(
            gunicorn,
            [
                gunicorn,
                "rollbook.wsgi:application",
                "--bind",
                f"{host}:{port}",
                "--workers",
                str(workers),
                "--access-logfile",
                "-",
                "--timeout",
                "120",
            ],
        )
