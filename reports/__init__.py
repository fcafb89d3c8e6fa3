"""The ganbench HTML report: reads result files only and imports no deep-learning framework."""

from .build import ReportError, ReportOutcome, build_report

__all__ = ["ReportError", "ReportOutcome", "build_report"]
