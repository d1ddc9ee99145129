"""Reports of an ``examine`` or ``fleet`` run for people: one self-contained HTML file and markdown for the
incident write-up. Every string that comes from a dump is escaped on the way out."""

from .fleet import fleet_html, fleet_markdown
from .html import html_report
from .markdown import markdown_report

__all__ = ["html_report", "markdown_report", "fleet_html", "fleet_markdown"]
