"""Former path of :mod:`imagination.book.records` (kept so that old code keeps working)."""

from .book.records import (
    best_time,
    book_build_record,
    load_records,
    machine_record,
    write_record,
)

__all__ = ["best_time", "book_build_record", "load_records", "machine_record", "write_record"]
