"""A third-party plugin distribution, installed with pip at test time, used through the real
CLI: its provider (``model: acme:...``), its eval (``evals: [{type: acme_upper}]``) and its
optimizer (``optimizer: {name: acme-rewrite, k: 2}`` in YAML, ``--param k=3``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import build_wheel, honed, pip_install

ACME = '''
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from honed.evals.base import EvalContext, EvalResult
from honed.optimizers.params import OptimizerParams
from honed.providers.base import Completion


class LoudModel:
    """Repeats the input, in capitals when the system prompt says SHOUT."""

    default_concurrency = 4
    constrains_output = False

    def __init__(self, spec):
        self.spec = spec

    async def complete(self, request):
        system = " ".join(m.content for m in request.messages if m.role == "system")
        text = request.messages[-1].content
        return Completion(text.upper() if "SHOUT" in system else text.lower())

    async def aclose(self):
        pass


def loud_model(cfg, *, pricing=None, base_dir=None):
    return LoudModel(cfg.spec)


class UpperScorer:
    def __init__(self, name, weight, min_ratio):
        self.name, self.weight, self.min_ratio = name, weight, min_ratio

    async def score(self, ctx: EvalContext) -> EvalResult:
        letters = [c for c in ctx.output if c.isalpha()]
        ratio = sum(c.isupper() for c in letters) / len(letters) if letters else 0.0
        return EvalResult(ratio, ratio >= self.min_ratio, f"{ratio:.0%} upper case")


class UpperRatio(BaseModel):
    """Share of upper-case letters in the output."""

    model_config = ConfigDict(extra="forbid")
    min_ratio: float = Field(0.5, ge=0, le=1)

    def scorer(self, env):
        return UpperScorer(env.name, env.weight, self.min_ratio)


class Rewrite(OptimizerParams):
    """Tries the seed and one fixed rewrite: SHOUT and k exclamation marks."""

    name: ClassVar[str] = "acme-rewrite"
    k: int = Field(1, ge=1, description="exclamation marks after SHOUT")

    async def search(self, ctx, seed):
        ctx.phase("acme-rewrite", f"seed and one rewrite on {len(ctx.examples('val'))} val")
        rewrite = seed.with_components(system=f"{seed.system} SHOUT{'!' * self.k}")
        for candidate, phase in ((seed, "seed"), (rewrite, "rewrite")):
            scored = await ctx.evaluate(candidate, "val")
            ctx.record(scored, accepted=True, phase=phase, note=f"k={self.k}")
'''
BROKEN = "raise ImportError('acme_broken needs the acme SDK')\n"
ENTRY_POINTS = {
    "honed.providers": {"acme": "acme_honed:loud_model"},
    "honed.evals": {"acme_upper": "acme_honed:UpperRatio"},
    "honed.optimizers": {"acme-rewrite": "acme_honed:Rewrite", "acme-broken": "acme_broken:X"},
}


def rows(*words: str) -> str:
    return "".join(f"\n    - {{text: {word}, label: x}}" for word in words)


TASK = f"""name: shout
model: acme:loud
tracking: none
prompt:
  system: Repeat the text.
  user: "{{text}}"
data:
  train:{rows("alpha", "beta", "gamma", "delta")}
  val:{rows("one", "two", "three", "four")}
  test:{rows("red", "green", "blue", "white")}
evals:
  - type: acme_upper
    min_ratio: 0.8
optimizer: {{name: acme-rewrite, k: 2}}
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """acme-honed installed by pip into a folder of its own."""
    root = tmp_path_factory.mktemp("acme")
    wheel = build_wheel(root, "acme-honed", "1.2.0",
                        {"acme_honed.py": ACME, "acme_broken.py": BROKEN}, ENTRY_POINTS)
    return pip_install(wheel, root / "site")


@pytest.fixture
def task(tmp_path: Path) -> Path:
    path = tmp_path / "task.yaml"
    path.write_text(TASK, encoding="utf-8")
    return path


def test_pip_installed_the_distribution(site: Path) -> None:
    assert (site / "acme_honed.py").exists()
    assert (site / "acme_honed-1.2.0.dist-info" / "entry_points.txt").exists()


def test_eval_uses_the_plugin_provider_and_eval(site: Path, task: Path) -> None:
    result = honed("eval", str(task), "--json", site=site)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["score"] == 0.0 and data["n"] == 4 and data["errors"] == 0


def test_optimizers_lists_the_plugin_with_its_parameters(site: Path) -> None:
    result = honed("optimizers", "--json", site=site)
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)["optimizers"]}
    plugin = rows["acme-rewrite"]
    assert plugin["plugin"] == "acme-honed" and plugin["summary"].startswith("Tries the seed")
    assert plugin["params"] == [{"name": "k", "type": "int", "required": False, "default": 1,
                                 "description": "exclamation marks after SHOUT"}]
    assert rows["bayes"]["plugin"] is None
    broken = rows["acme-broken"]
    assert "acme-honed" in broken["error"] and "acme SDK" in broken["error"]


def _best_system(result: object) -> str:
    data = json.loads(result.stdout)  # type: ignore[attr-defined]
    assert data["best"]["val"]["score"] == 1.0
    return str(data["best"]["prompt"]["system"])


def test_optimize_with_the_plugin_optimizer_flag(site: Path, task: Path) -> None:
    result = honed("optimize", str(task), "--optimizer", "acme-rewrite", "--param", "k=3",
                   "--max-calls", "100", "--json", site=site)
    assert result.returncode == 0, result.stderr
    assert _best_system(result) == "Repeat the text. SHOUT!!!"


def test_optimize_takes_the_task_optimizer_and_its_params(site: Path, task: Path) -> None:
    result = honed("optimize", str(task), "--max-calls", "100", "--json", site=site)
    assert result.returncode == 0, result.stderr
    assert _best_system(result) == "Repeat the text. SHOUT!!"
    again = honed("optimize", str(task), "--param", "k=3", "--max-calls", "100", "--json",
                  site=site)
    assert again.returncode == 0, again.stderr
    assert _best_system(again) == "Repeat the text. SHOUT!!!"


@pytest.mark.parametrize(("args", "message"), [
    (("--optimizer", "acme-rewrit"), "did you mean 'acme-rewrite'"),
    (("--param", "k=0"), "optimizer.k"),
    (("--param", "kk=2"), "did you mean 'k'"),
    (("--optimizer", "acme-broken"), "acme-honed"),
])
def test_bad_optimizer_choices_exit_2(site: Path, task: Path, args: tuple[str, ...],
                                      message: str) -> None:
    result = honed("optimize", str(task), *args, "--max-calls", "100", site=site)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert message in result.stderr and "Traceback" not in result.stderr


def test_bad_plugin_eval_field_is_located(site: Path, task: Path) -> None:
    task.write_text(TASK.replace("min_ratio: 0.8", "min_ration: 0.8"), encoding="utf-8")
    result = honed("eval", str(task), site=site)
    assert result.returncode == 2
    assert "evals.0.min_ration" in result.stderr and "did you mean 'min_ratio'" in result.stderr


def test_without_the_plugin_its_names_are_unknown(task: Path, tmp_path: Path) -> None:
    result = honed("eval", str(task), site=tmp_path)
    assert result.returncode == 2 and "acme" in result.stderr
