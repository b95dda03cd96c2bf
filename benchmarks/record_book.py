"""Record the book build: each notebook's execution time and each page's weight (`make book`).

    python benchmarks/record_book.py --scale book   # reads _build/reports, _build/html, build/stage

Writes benchmarks/results/book_build_<scale>.json, a dated record the performance chapter reads,
and book_glues_<scale>.json: every number the executed notebooks glued, which the paper map's
status test (tests/test_paper_map.py) checks.
"""

import argparse
from pathlib import Path

from imagination.book.records import book_build_record, notebook_glues, write_record

ROOT = Path(__file__).resolve().parents[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", required=True, choices=["ci", "book", "paper"])
    parser.add_argument("--reports", type=Path, default=ROOT / "_build" / "reports")
    parser.add_argument("--html", type=Path, default=ROOT / "_build" / "html")
    parser.add_argument("--executed", type=Path, default=ROOT / "build" / "stage" / "notebooks")
    args = parser.parse_args()
    record = book_build_record(args.reports / f"notebooks-{args.scale}.xml", args.html,
                               scale=args.scale)
    out = ROOT / "benchmarks" / "results" / f"book_build_{args.scale}.json"
    print(f"wrote {write_record(out, record)}")
    executed = sorted(args.executed.glob("*.ipynb"))
    glues = {"kind": "book glues", "scale": args.scale,
             "notebooks": {nb.stem: notebook_glues(nb) for nb in executed}}
    out = ROOT / "benchmarks" / "results" / f"book_glues_{args.scale}.json"
    print(f"wrote {write_record(out, glues)}")


if __name__ == "__main__":
    main()
