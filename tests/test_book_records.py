"""imagination.book.records: best-of timing, dated records, the book-build record of chapter 09."""

import json

import pytest

import imagination as im


def test_best_time_returns_result_and_minimum():
    calls = []
    result, seconds = im.best_time(lambda: calls.append(1) or len(calls), 3)
    assert result == 3 and len(calls) == 3 and seconds >= 0
    for bad in (0, -1, 1.5):
        with pytest.raises(ValueError, match="repeats"):
            im.best_time(lambda: None, bad)


def test_records_round_trip(tmp_path):
    path = im.write_record(tmp_path / "results" / "bench_x.json", {"speedup": 3.5})
    rec = im.load_records(tmp_path / "results")["bench_x"]
    assert rec["speedup"] == 3.5
    assert {"date", "machine", "versions"} <= set(rec) and rec["machine"]["cpus"] >= 1
    assert "numpy" in rec["versions"]
    assert path.name == "bench_x.json"
    assert im.load_records(tmp_path / "missing") == {}
    (tmp_path / "results" / "bad.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="JSON object"):
        im.load_records(tmp_path / "results")
    with pytest.raises(ValueError, match="not a directory"):
        im.load_records(path)


def _fake_build(tmp_path, failure=""):
    xml = tmp_path / "nb.xml"
    xml.write_text(
        '<testsuites><testsuite>'
        '<testcase name="01_a.ipynb" time="1.5" />'
        f'<testcase name="02_b.ipynb" time="2.25">{failure}</testcase>'
        '</testsuite></testsuites>')
    html = tmp_path / "html"
    (html / "notebooks").mkdir(parents=True)
    (html / "index.html").write_text("<html></html>")
    (html / "notebooks" / "01_a.html").write_text("x" * 1234)
    return xml, html


def test_book_build_record_reads_times_and_weights(tmp_path):
    xml, html = _fake_build(tmp_path)
    from imagination.book.records import book_build_record

    rec = book_build_record(xml, html, scale="book")
    assert rec["notebooks"] == {"01_a": 1.5, "02_b": 2.25}
    assert rec["pages"] == {"01_a": 1234}
    assert json.loads(json.dumps(rec)) == rec


def test_book_build_record_refuses_failed_or_missing_builds(tmp_path):
    from imagination.book.records import book_build_record

    xml, html = _fake_build(tmp_path, failure='<failure message="boom" />')
    with pytest.raises(ValueError, match="failed"):
        book_build_record(xml, html, scale="ci")
    with pytest.raises(ValueError, match="JUnit"):
        book_build_record(tmp_path / "none.xml", html, scale="ci")
    with pytest.raises(ValueError, match="built book"):
        book_build_record(xml, tmp_path, scale="ci")
