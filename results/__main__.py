"""python -m results: the results pages of docs/results/, generated from recorded runs.

    python -m results record table-fixture        # copy runs/sweep/fixture/{run,table}.json into docs/results/data/
    python -m results record bench-fixture --from report=runs/bench/x/report/report.json
    python -m results render                      # every page, the index and README.md's results block (make results)

`record` refuses a run without provenance (command, commit, CPU, date) or made from uncommitted changes; it then
re-renders. Each page's default run files and the command that makes them: `python -m results record --help`.
"""
import argparse
import sys

from common.cli import CliParser, run_cli
from results.build import record, render_all
from results.pages import PAGES, page_named


def _source(text: str) -> tuple[str, str]:
    key, sep, path = text.partition("=")
    if not sep or not key or not path:
        raise argparse.ArgumentTypeError(f"expected KEY=PATH, got {text!r}")
    return key, path


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(prog="python -m results", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    pages = "\n".join(f"  {p.name}: {', '.join(f'{k}={v}' for k, v in p.sources.items())} ({p.rerun})"
                      for p in PAGES)
    rec = sub.add_parser("record", help="copy a run's JSON (with its provenance) into docs/results/data/",
                         description=f"pages and their default run files:\n{pages}",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    rec.add_argument("page", choices=[p.name for p in PAGES])
    rec.add_argument("--from", dest="sources", nargs="+", type=_source, default=[], metavar="KEY=PATH",
                     help="run files other than the defaults")
    rec.add_argument("--allow-dirty", action="store_true", help="record a run made from uncommitted changes")
    sub.add_parser("render", help="render every recorded page, the index and README.md's results block")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "record":
        print(record(page_named(args.page), dict(args.sources), allow_dirty=args.allow_dirty))
    for path in render_all():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
