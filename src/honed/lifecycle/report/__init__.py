"""Report data: what a run report and a comparison show, not how they are drawn (``honed.web``
draws them as HTML and SVG; ``honed report`` and ``honed ui`` show them)."""

from honed.lifecycle.report.compare import compare_report
from honed.lifecycle.report.data import CompareReport, RunReport
from honed.lifecycle.report.run import find_run, run_report
from honed.lifecycle.report.taskdata import TaskLoader

__all__ = ["CompareReport", "RunReport", "TaskLoader", "compare_report", "find_run",
           "run_report"]
