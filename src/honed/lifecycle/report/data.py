"""The value types of a report: plain frozen data, drawn by ``honed.web`` and dumped by
``--json`` (``to_dict``)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, ClassVar, Literal

CellState = Literal["pass", "fail", "error", "skipped"]
DiffOp = Literal["equal", "insert", "delete"]


@dataclass(frozen=True)
class SplitScore:
    """A score on a split with its n, errors and 95% CI (None where the source kept none)."""

    score: float
    n: int
    errors: int = 0
    ci95: tuple[float, float] | None = None

    @classmethod
    def of(cls, data: dict[str, Any] | None) -> SplitScore | None:
        if not data or data.get("score") is None:
            return None
        ci = data.get("ci95")
        return cls(float(data["score"]), int(data.get("n") or 0), int(data.get("errors") or 0),
                   (float(ci[0]), float(ci[1])) if ci else None)


@dataclass(frozen=True)
class RunInfo:
    """What ran: the task, the model, the optimizer and its settings, the seed, the limits."""

    id: str
    task: str
    task_path: str | None
    status: str
    optimizer: str | None
    params: dict[str, Any]
    seed: int | None
    model: str | None
    reflection_model: str | None
    limits: dict[str, Any]
    created: float
    updated: float


@dataclass(frozen=True)
class Budget:
    """What the run spent against its limits (None: no limit, or not recorded)."""

    calls: int | None = None
    max_calls: int | None = None
    rollouts: int | None = None
    tokens: int | None = None
    max_tokens: int | None = None
    cost_usd: float | None = None
    max_usd: float | None = None
    wall_s: float | None = None
    max_seconds: float | None = None
    cache_hits: int | None = None
    retries: int | None = None
    failed_calls: int | None = None
    proposer_calls: int | None = None
    stopped: str | None = None


@dataclass(frozen=True)
class Step:
    """One point of the trajectory: a candidate's score after ``rollouts`` rollouts."""

    seq: int
    iteration: int
    phase: str
    candidate_id: str
    split: str
    score: float
    n: int
    accepted: bool
    best_so_far: float
    rollouts: int
    cost_usd: float
    note: str


@dataclass(frozen=True)
class Column:
    """A prompt (candidate) in a report: its id, a short label and its val score (in the
    held-out matrix, its test score)."""

    candidate_id: str
    label: str
    role: str  # seed | best | candidate
    origin: str
    val: SplitScore | None
    prompt_tokens: float | None = None
    cost_per_example: float | None = None
    latency_p50_s: float | None = None


@dataclass(frozen=True)
class FrontPoint:
    candidate_id: str
    label: str
    score: float
    prompt_tokens: float
    cost_per_example: float
    latency_p50_s: float
    on_front: bool


@dataclass(frozen=True)
class EvalCell:
    name: str
    score: float | None
    passed: bool
    feedback: str
    category: str | None


@dataclass(frozen=True)
class Cell:
    """One example under one prompt: pass, fail, error (call or eval failed) or skipped."""

    state: CellState
    score: float | None
    output: str
    error: str | None
    evals: tuple[EvalCell, ...]
    input_tokens: int = 0
    output_tokens: int = 0
    latency_s: float = 0.0
    cached: bool = False


@dataclass(frozen=True)
class MatrixRow:
    example_id: str
    inputs: dict[str, Any] | None  # None when the task's data could not be read
    cells: tuple[Cell | None, ...]  # one per column; None: not evaluated there
    derived: ClassVar[tuple[str, ...]] = ("failing", "differs")

    @property
    def failing(self) -> bool:
        """Some prompt fails (or errors on) this example."""
        return any(c is not None and c.state in ("fail", "error") for c in self.cells)

    @property
    def differs(self) -> bool:
        """The prompts do not all get the same outcome on this example."""
        return len({c.state for c in self.cells if c is not None}) > 1


@dataclass(frozen=True)
class Matrix:
    """Examples × prompts on one split."""

    split: str
    columns: tuple[Column, ...]
    rows: tuple[MatrixRow, ...]
    hidden_columns: int = 0  # candidates left out to keep the matrix readable


@dataclass(frozen=True)
class DiffSection:
    """A word-level diff of one part of two prompts (system, user, a component, the demos)."""

    name: str
    parts: tuple[tuple[DiffOp, str], ...]
    derived: ClassVar[tuple[str, ...]] = ("changed",)

    @property
    def changed(self) -> bool:
        return any(op != "equal" for op, _ in self.parts)


@dataclass(frozen=True)
class PromptDiff:
    a: str
    b: str
    sections: tuple[DiffSection, ...]
    derived: ClassVar[tuple[str, ...]] = ("identical",)

    @property
    def identical(self) -> bool:
        return not any(s.changed for s in self.sections)


@dataclass(frozen=True)
class EvalRow:
    """One eval across the report's prompts: its mean score on each, and why examples fail."""

    name: str
    scores: tuple[float | None, ...]  # one per column
    failures: tuple[dict[str, int], ...]  # per column: failure category -> count


@dataclass(frozen=True)
class RunReport:
    run: RunInfo
    budget: Budget
    seed: dict[str, SplitScore | None]  # val, test
    best: dict[str, SplitScore | None]
    test_diff: dict[str, Any] | None
    seed_id: str | None
    best_id: str | None
    columns: tuple[Column, ...]  # seed, best, then the other candidates by val score
    trajectory: tuple[Step, ...]
    front: tuple[FrontPoint, ...]
    matrix: Matrix | None
    diff: PromptDiff | None
    evals: tuple[EvalRow, ...]
    prompts: dict[str, dict[str, Any]]  # candidate id -> prompt (system, user, demos, ...)
    test_matrix: Matrix | None = None  # the seed and the best on the held-out test
    test_evals: tuple[EvalRow, ...] = ()
    registered: dict[str, Any] | None = None
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # what the report could not show, and why
    derived: ClassVar[tuple[str, ...]] = ("live",)

    @property
    def live(self) -> bool:
        return self.run.status == "running"

    def to_dict(self) -> dict[str, Any]:
        return dict(_plain(self))


@dataclass(frozen=True)
class Side:
    """One side of a comparison: a run's best prompt or a registry version."""

    spec: str
    kind: Literal["run", "registry"]
    label: str
    task: str
    candidate_id: str
    prompt: dict[str, Any]
    val: SplitScore | None
    test: SplitScore | None
    run: RunReport | None = None
    results: dict[str, Any] | None = None  # example id -> result (val), when recorded
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CompareReport:
    sides: tuple[Side, ...]
    diffs: tuple[PromptDiff, ...]  # the first side against each other
    matrix: Matrix | None
    evals: tuple[EvalRow, ...]
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return dict(_plain(self))


def _plain(value: Any) -> Any:
    """JSON-ready data: dataclasses as dicts (with their ``derived`` properties), tuples as
    lists."""
    if is_dataclass(value) and not isinstance(value, type):
        data = {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
        for name in getattr(value, "derived", ()):
            data[name] = getattr(value, name)
        return data
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value
