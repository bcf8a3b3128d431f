"""``rollbook demo``: load the demo data once and print how to log in."""

from django.core.management.base import BaseCommand
from rich.console import Console

from rollbook.demo.loader import load_demo


class Command(BaseCommand):
    help = "Load realistic demo data (once; later runs change nothing) and print the demo credentials."

    def add_arguments(self, parser):
        parser.add_argument("--learners", type=int, default=200, help="How many learners to create (first load).")

    def handle(self, *args, learners: int, **options):
        if learners < 1:
            self.stderr.write("--learners must be at least 1.")
            raise SystemExit(2)
        summary = load_demo(learners=learners)
        console = Console(file=self.stdout._out, highlight=False)
        console.print("[bold]Demo data loaded.[/bold]" if summary.created else "Demo data already present.")
        console.print(
            f"{summary.organizations} organizations, {summary.courses} courses, {summary.runs} runs, "
            f"{summary.learners} learners, {summary.enrollments} enrollments."
        )
        counts = summary.acme_learners or {}
        console.print(
            f"{summary.customers} enterprise customers. Acme Learning Co. (acme, uuid {summary.acme_uuid}): "
            f"{counts.get('total', 0)} learners ({counts.get('licensed', 0)} with an activated license, "
            f"{counts.get('invited', 0)} invited, {counts.get('pending', 0)} pending emails), default enrollments "
            + ", ".join(summary.acme_intentions)
            + ".",
            soft_wrap=True,
        )
        console.print("[bold]Demo credentials[/bold] (also kept in " + str(summary.credentials_file) + ")")
        console.print(
            f"  operator, for the admin at /admin/:  username {summary.operator_username}  "
            f"password {summary.operator_password}",
            soft_wrap=True,
        )
        console.print(
            f"  API client with the operator role:   client_id {summary.client_id}  "
            f"client_secret {summary.client_secret}",
            soft_wrap=True,
        )
        console.print(
            f"  enterprise admin of Acme (no admin-site access):  username {summary.enterprise_admin_username}  "
            f"password {summary.enterprise_admin_password}",
            soft_wrap=True,
        )
        console.print(
            f"  API client with Acme's enterprise-admin role:   client_id {summary.enterprise_client_id}  "
            f"client_secret {summary.enterprise_client_secret}",
            soft_wrap=True,
        )
        console.print(
            "  get a token: curl -s -X POST http://127.0.0.1:8000/oauth2/access_token -d grant_type=client_credentials "
            f"-d client_id={summary.client_id} -d client_secret={summary.client_secret} -d token_type=jwt",
            soft_wrap=True,
        )
