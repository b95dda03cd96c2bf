"""Record the book build: each notebook's execution time and each page's weight (`make book`).

    python benchmarks/record_book.py --scale book   # reads _build/reports and _build/html

Writes benchmarks/results/book_build_<scale>.json, a dated record the performance chapter reads.
"""

import argparse
from pathlib import Path

from imagination.book.records import book_build_record, write_record

ROOT = Path(__file__).resolve().parents[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", required=True, choices=["ci", "book", "paper"])
    parser.add_argument("--reports", type=Path, default=ROOT / "_build" / "reports")
    parser.add_argument("--html", type=Path, default=ROOT / "_build" / "html")
    args = parser.parse_args()
    record = book_build_record(args.reports / f"notebooks-{args.scale}.xml", args.html,
                               scale=args.scale)
    out = ROOT / "benchmarks" / "results" / f"book_build_{args.scale}.json"
    print(f"wrote {write_record(out, record)}")


if __name__ == "__main__":
    main()
