"""The README's main job, end to end on the embedded model through the real CLI."""

import json
from pathlib import Path

import pytest

from honed.testing import has_local_model

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.model
@pytest.mark.skipif(not has_local_model(), reason="embedded model not installed")
def test_quickstart_eval_on_embedded_model(cli) -> None:
    result = cli("eval", str(ROOT / "examples" / "quickstart" / "task.yaml"), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["n"] == 24 and data["errors"] == 0 and data["format_violations"] == 0
    assert data["calls"] == 24 and data["model"] == "local"
    again = json.loads(cli("eval", str(ROOT / "examples" / "quickstart" / "task.yaml"),
                           "--json").stdout)
    assert again["calls"] == 0 and again["score"] == data["score"]
