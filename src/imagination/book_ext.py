"""Former path of :mod:`imagination.book.extension` (kept so that old configurations work)."""

from .book.extension import PLOTLY_JS, PLOTLY_MIME, PlotlyMimeRenderer, plotly_json_to_html, setup

__all__ = ["PLOTLY_JS", "PLOTLY_MIME", "PlotlyMimeRenderer", "plotly_json_to_html", "setup"]
