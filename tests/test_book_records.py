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


def test_record_path_keys_by_benchmark_scale_and_device(tmp_path):
    assert im.record_path(tmp_path, "bench_x", "ci").name == "bench_x_ci.json"
    assert im.record_path(tmp_path, "bench_x", "book", "cuda:1").name == "bench_x_book_cuda.json"
    for bad in ("", "a/b"):
        with pytest.raises(ValueError, match="scale"):
            im.record_path(tmp_path, "bench_x", bad)


def test_write_record_never_replaces_a_record_of_another_key(tmp_path):
    path = tmp_path / "bench_x_ci.json"
    im.write_record(path, {"benchmark": "bench_x", "scale": "ci", "device": "cpu", "v": 1})
    im.write_record(path, {"benchmark": "bench_x", "scale": "ci", "device": "cpu", "v": 2})
    assert json.loads(path.read_text())["v"] == 2  # the same key: replaced
    for other in ({"scale": "book"}, {"device": "cuda"}, {"benchmark": "bench_y"}):
        with pytest.raises(ValueError, match="another key"):
            im.write_record(path, {"benchmark": "bench_x", "scale": "ci", "device": "cpu",
                                   **other})
    assert json.loads(path.read_text())["v"] == 2  # untouched
    path.write_text("not json")
    with pytest.raises(ValueError, match="not a JSON record"):
        im.write_record(path, {"v": 3})


def _chunk(model, n, seconds, steps):
    return {"model": model, "n": n, "steps": steps, "seconds": seconds, "date": "2026-12-07",
            "errors": {"mse": [1.0], "rmse": [1.0]}, "machine": {"machine": "x86_64", "cpus": 2,
                                                                "load_average_1min": 1.5}}


def test_chapter_9_summaries_survive_missing_partial_and_old_records():
    from imagination.book.records import figure1_runs, trainer_benchmarks

    assert trainer_benchmarks({}) == [] and figure1_runs({}) == []
    config = {"sizes": [256, 512], "epochs": 2, "models": ["dyn", "rew"]}
    partial = {"config": config, "chunks": {"dyn:256": _chunk("dyn", 256, 2.0, 2),
                                            "rew:256": _chunk("rew", 256, 1.0, 2)}}
    run = figure1_runs({"figure1_paper_scale": partial, "other": {"x": 1}})
    assert len(run) == 1 and run[0]["chunks"] == 2 and run[0]["chunks_total"] == 4
    assert not run[0]["complete"] and run[0]["load_average"] == 1.5
    # remaining: 4 steps per model at the last chunk's rate (1 s and 0.5 s per step)
    assert run[0]["projected_min"] == pytest.approx((3.0 + 4 * 1.0 + 4 * 0.5) / 60)
    only_dyn = {"config": config, "chunks": {"dyn:256": _chunk("dyn", 256, 2.0, 2)}}
    assert figure1_runs({"figure1_paper_scale": only_dyn})[0]["projected_min"] is None
    old = {"benchmark": "bench_teacher_student", "speedup": 9.4, "date": "2026-11-30T12:00",
           "paper_estimate": {"total_seconds": 600.0}}
    new = {"benchmark": "bench_teacher_student", "scale": "ci", "speedup": 20.0,
           "peak_fraction": 0.3, "paper_estimate_min": 15.0, "step": "C kernel",
           "paper_estimate_torch_step_min": 30.0, "peak_fraction_torch_step": 0.15}
    rows = trainer_benchmarks({"bench_teacher_student_old": old, "bench_teacher_student_ci": new,
                               "bench_reinforce_ci": {"speedup": 2.0}})
    assert [r["name"] for r in rows] == ["bench_teacher_student_ci", "bench_teacher_student_old"]
    assert rows[1]["paper_estimate_min"] == 10.0 and rows[1]["peak_fraction"] is None
    assert (rows[0]["step"], rows[0]["torch_estimate_min"], rows[0]["torch_fraction"]) == (
        "C kernel", 30.0, 0.15)
    assert rows[1]["step"] is None and rows[1]["torch_estimate_min"] is None


def test_deadline_from_reads_the_next_hh_mm_utc():
    import math
    import time

    from imagination.book.records import deadline_from

    assert deadline_from(None) == math.inf
    end = deadline_from("00:00")
    assert time.time() < end <= time.time() + 24 * 3600  # the next midnight, within a day
    for bad in ("noon", "25:00", "12"):
        with pytest.raises(ValueError):
            deadline_from(bad)
