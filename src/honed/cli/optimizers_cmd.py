"""``honed optimizers``: the optimizers (built-in and plugins), their parameters and defaults."""

from __future__ import annotations

from honed.cli.options import JsonOpt


def optimizers_command(json_output: JsonOpt = False) -> None:
    """List the optimizers with their parameters and defaults. Set them in a task file
    (optimizer: {name: bayes, n_trials: 40}) or with honed optimize -o NAME --param KEY=VALUE."""
    from honed.cli import render
    from honed.cli.render.optimizers import optimizers_table
    from honed.optimizers.registry import describe_optimizers

    rows = describe_optimizers()
    if json_output:
        render.json_out({"optimizers": rows})
    else:
        optimizers_table(rows)
