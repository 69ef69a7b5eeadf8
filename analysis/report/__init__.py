"""The last stage: a run folder's tables -> figures and ``report.md`` (one section per reviewer
question). Reads only the run folder's tables, never a live network."""

from analysis.report.markdown import answers, write_report

__all__ = ["answers", "write_report"]
