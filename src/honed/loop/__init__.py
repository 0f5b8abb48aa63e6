"""The continuous-learning loop: on a drift alarm or a schedule, harvest production feedback,
re-optimize the served prompt, gate it on a frozen held-out set, test it online and promote or
keep production, within a daily budget. Every step is an event in the log store."""

from honed.loop.config import LoopConfig, load_loop
from honed.loop.tick import TickContext, TickReport, tick

__all__ = ["LoopConfig", "TickContext", "TickReport", "load_loop", "tick"]
