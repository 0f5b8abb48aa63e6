"""LLM judges that agree with people.

- ``ratings``: rows of human and judge labels (files, the production log), the label scale,
  and the agreement report of ``honed judge agreement``;
- ``judge_task``: a judge as a task of its own (expected output: the person's label), with a
  stratified, seeded held-out split;
- ``align``: ``honed judge align``: optimize a judge's prompt and demos with the optimize flow,
  report held-out agreement before and after, register it with its kappa and gate it;
- ``reference``: load registered judges into a task's ``llm_judge`` evals (``prompt: NAME@ALIAS``).

Nothing is imported here, so the optimize flow can load ``reference`` without ``align``.
"""
