"""Monitoring production: per-version time series of quality, errors, latency and cost from the
production log, a sampled share of traffic scored with the task's own evals, and drift alarms
(a drop in quality, a shift in the inputs or the outputs). Alarms are data, stored in the log
store; acting on them is the continuous-learning loop's job (``honed.loop``)."""

from honed.monitor.check import MonitorReport, VersionStatus, check, status
from honed.monitor.config import MonitorConfig

__all__ = ["MonitorConfig", "MonitorReport", "VersionStatus", "check", "status"]
