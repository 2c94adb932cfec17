"""Study reports: one self-contained HTML page (plotly) with the search and RNN health."""

from service.report._page import build_report, health_summary

__all__ = ["build_report", "health_summary"]
