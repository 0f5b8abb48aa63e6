"""GEPA (the standalone ``gepa`` package) as a honed search: ``gepa``.

GEPA evolves the prompt's text components (``system`` and ``user``; the seed is the task's seed
prompt, its demos kept) by reflection on feedback, keeping a Pareto frontier of candidates over
the val examples. honed plugs in as GEPA's adapter:

- ``evaluate`` scores a batch with ``ctx.evaluate`` (train minibatches, val for selection), so
  every task-model call is cached, retried and counted against the run's one budget;
- ``make_reflective_dataset`` gives GEPA each example's inputs, reply and honed's eval feedback;
- the reflection LM is the run's reflection model (``ctx.reflect``), else the task model itself
  (``service.proposal_model``); its calls are counted as proposer calls.

A proposed text keeps honed's placeholders: a ``{word}`` that names no input stays literal, and
a candidate that lost one of the seed's placeholders scores 0 without a model call (with feedback
saying so). A component whose seed text has placeholders gets GEPA's default reflection prompt
plus a note to keep them.

GEPA is synchronous and runs in a worker thread. It stops at ``max_metric_calls`` (default: the
calls left), or earlier when a stop callback sees the budget cannot pay for another iteration; a
budget cut inside an iteration unwinds it and its best so far is the result. The result is
recorded as phase ``gepa`` with honed's evaluation of it on all of val, which GEPA's own val
evaluation already was; each candidate GEPA scores on val is reported with ``ctx.progress``.

GEPA is an optional package (the ``dspy`` extra brings it), imported on first use; its logging
and output are silenced.
"""

from honed.optimizers.gepa_backend.adapter import HonedAdapter, Reflector, Row, Texts
from honed.optimizers.gepa_backend.search import INSTALL, PROGRESS, GepaSearch, load_gepa

__all__ = ["INSTALL", "PROGRESS", "GepaSearch", "HonedAdapter", "Reflector", "Row", "Texts",
           "load_gepa"]
