"""MLflow's prompt optimization (``mlflow.genai.optimize_prompts``) as a honed search: ``mlflow``.

The prompt's components (``system``, ``user``) are registered as MLflow prompts (``{var}``
becomes ``{{var}}``) in a private, temporary SQLite store: ``optimize_prompts`` loads and
registers prompts through MLflow's global tracking and registry URI, which point there while it
runs and are restored after, so the user's store never sees the candidates. MLflow's tracking is
off (``enable_tracking=False``).

- ``predict_fn`` reads the candidate's templates from the registered prompts (MLflow swaps the
  candidate in), maps them back to a honed candidate and scores the example with
  ``ctx.evaluate``: every task-model call is cached, retried and counted against the budget.
  Which example it runs on comes as the ``honed_row`` input (split and index).
- The scorer hands MLflow honed's score, with the evals' feedback as its rationale.
- The reflection model (else the task model) is served by a ``ModelServer`` on loopback to
  MLflow's litellm client (``openai:/...`` with ``api_base``), within the run's calls and
  counted as proposer calls.

``algorithm="gepa"`` is ``GepaPromptOptimizer`` (GEPA at its defaults; honed passes the val
split as GEPA's valset, a stop callback for the budget and a callback that reports each val
evaluation with ``ctx.progress``); a budget cut returns GEPA's best so far. ``"metaprompt"`` is
``MetaPromptOptimizer``: one evaluation of the seed on train, one rewrite. The result is recorded
as phase ``mlflow`` with honed's evaluation on all of val.

Nothing leaves the machine: MLflow's telemetry is off, litellm's cost map is local, and the only
connections are to the loopback server.
"""

from honed.optimizers.mlflow_backend.runtime import INSTALL, ROW, load_mlflow
from honed.optimizers.mlflow_backend.search import MlflowSearch

__all__ = ["INSTALL", "ROW", "MlflowSearch", "load_mlflow"]
