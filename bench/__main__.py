"""``python -m bench [--list] [--rows N] [--database-url URL] [NAME ...]``: run Rollbook's benchmarks.

With no names, every benchmark runs. Figures are printed as tables with rich.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time
from types import ModuleType

from rich.console import Console
from rich.table import Table

import bench
from bench import Options, Report


def discover() -> dict[str, ModuleType]:
    """Every benchmark module of the package, by name (modules starting with ``_`` are helpers)."""
    found = {}
    for module_info in sorted(pkgutil.iter_modules(bench.__path__), key=lambda info: info.name):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"bench.{module_info.name}")
        if callable(getattr(module, "run", None)):
            found[module_info.name] = module
    return found


def render(console: Console, report: Report, seconds: float) -> None:
    """Print one benchmark's report as a table, then its notes."""
    table = Table(title=f"{report.title}  ({seconds:.1f} s wall)", title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("unit")
    for figure in report.figures:
        if isinstance(figure.value, float):
            value = f"{figure.value:,.3f}" if figure.value < 100 else f"{figure.value:,.0f}"
        elif isinstance(figure.value, int):
            value = f"{figure.value:,}"
        else:
            value = str(figure.value)
        table.add_row(figure.label, value, figure.unit)
    console.print(table)
    for note in report.notes:
        console.print(f"  • {note}")


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run the chosen benchmarks and print their reports; return the exit status."""
    benchmarks = discover()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"benchmarks to run: {', '.join(benchmarks)}")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--rows", type=int, help="rows to work on (each benchmark has its own default)")
    parser.add_argument(
        "--database-url",
        help="scratch database to (re)create and use; default var/bench/bench.sqlite3, or the PostgreSQL "
        "ROLLBOOK_DATABASE_URL with '_bench' appended to the database name",
    )
    args = parser.parse_args(argv)
    console = Console()

    if args.list:
        for name, module in benchmarks.items():
            console.print(f"[bold]{name}[/bold]  {getattr(module, 'DESCRIPTION', '')}")
        return 0
    unknown = [name for name in args.names if name not in benchmarks]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(benchmarks)}")
    if args.rows is not None and args.rows < 1:
        parser.error("--rows must be at least 1")

    url = bench.scratch_database(args.database_url)
    console.print(f"scratch database: {bench.redacted(url)}")
    options = Options(rows=args.rows, database_url=url)
    for name in args.names or list(benchmarks):
        started = time.perf_counter()
        report = benchmarks[name].run(options)
        render(console, report, time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
