"""imagination.book.scale: the scale setting read from IMAGINATION_SCALE and IMAGINATION_STATIC."""

import pytest

import imagination as im
from imagination.book import scale


def test_default_scale_is_book(monkeypatch):
    monkeypatch.delenv("IMAGINATION_SCALE", raising=False)
    assert im.current_scale() == "book"
    monkeypatch.setenv("IMAGINATION_SCALE", "")
    assert im.current_scale() == "book"


@pytest.mark.parametrize("name", scale.SCALES)
def test_by_scale_picks_the_named_value(monkeypatch, name):
    monkeypatch.setenv("IMAGINATION_SCALE", name.upper())  # case does not matter
    assert im.current_scale() == name
    assert im.by_scale(ci=1, book=2, paper=3) == {"ci": 1, "book": 2, "paper": 3}[name]


def test_bad_scale_names_the_allowed_values(monkeypatch):
    monkeypatch.setenv("IMAGINATION_SCALE", "huge")
    with pytest.raises(ValueError, match="allowed: ci, book, paper"):
        im.current_scale()
    with pytest.raises(ValueError, match="not a scale"):
        im.by_scale(ci=1, book=2, paper=3, scale="huge")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "static"), [("1", True), ("true", True), ("0", False), ("", False)]
)
def test_static_mode(monkeypatch, value, static):
    monkeypatch.setenv("IMAGINATION_STATIC", value)
    assert im.is_static() is static


def test_static_mode_rejects_garbage(monkeypatch):
    monkeypatch.setenv("IMAGINATION_STATIC", "maybe")
    with pytest.raises(ValueError, match="IMAGINATION_STATIC"):
        im.is_static()
