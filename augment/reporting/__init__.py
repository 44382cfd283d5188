"""The evaluation as one self-contained HTML page (``augment report``): see :mod:`.html`."""

from augment.reporting.html import render_report, write_report
from augment.reporting.markdown import markdown_html

__all__ = ["markdown_html", "render_report", "write_report"]
