"""Command line: `python -m reports build RESULTS_DIR [-o report.html] [--baseline torch]`.

Exit status: 0 when a page was written (warnings included), 2 when RESULTS_DIR does not exist
(no page) or holds neither a valid result nor a valid reproduction (a page that lists the
problems is still written).
`python -m reports demo DIR` writes fake but realistic result files to preview the page.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .build import ReportError, build_report, terminal_table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reports", description="ganbench HTML report")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build the report from a folder of result files")
    b.add_argument("results_dir", type=Path)
    b.add_argument(
        "-o",
        "--out",
        type=Path,
        default=None,
        help="HTML file to write (default: RESULTS_DIR/report.html); the CSV goes next to it",
    )
    b.add_argument("--baseline", default="torch", help="backend the speed-ups are relative to (default: torch)")
    d = sub.add_parser("demo", help="write fake result files to preview the page")
    d.add_argument("folder", type=Path)
    args = parser.parse_args(argv)

    if args.command == "demo":
        from .demo import write_demo

        write_demo(args.folder)
        print(
            f"invented results (marked as demo data) written to {args.folder}\n"
            f"next: python -m reports build {args.folder}"
        )
        return 0

    try:
        outcome = build_report(args.results_dir, args.out, args.baseline)
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for warning in outcome.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(terminal_table(outcome.summary))
    if outcome.reproductions:
        print(f"{outcome.reproductions} reproduction(s) shown in the page's reproduction section")
    if outcome.runs == 0 and outcome.reproductions == 0:
        print(
            f"error: no valid result file in {args.results_dir}; wrote {outcome.html} listing the problems",
            file=sys.stderr,
        )
        return 2
    print(f"\nreport: {outcome.html}\nsummary CSV: {outcome.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
