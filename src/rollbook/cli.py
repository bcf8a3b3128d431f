"""The ``rollbook`` console script: Django management with dashed command names.

``rollbook create-client ...`` runs the ``create_client`` management command, and so on;
``rollbook help`` lists every command.
"""

import os
import sys


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``rollbook`` console script."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rollbook.settings")
    argv = list(sys.argv if argv is None else argv)
    if len(argv) > 1 and not argv[1].startswith("-"):
        argv[1] = argv[1].replace("-", "_")
    from django.core.management import execute_from_command_line

    execute_from_command_line(argv)


if __name__ == "__main__":
    main()
