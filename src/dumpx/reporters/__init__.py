"""Reports of an ``examine`` run for people: one self-contained HTML file and markdown for the
incident write-up. Every string that comes from a dump is escaped on the way out."""

from .html import html_report
from .markdown import markdown_report

__all__ = ["html_report", "markdown_report"]
