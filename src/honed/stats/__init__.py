"""Statistics as pure functions (no I/O): bootstrap confidence intervals and paired tests.

Paired functions that take two samples ``a`` and ``b`` report and test ``b - a``.
"""

from honed.stats.bootstrap import (
    CI_RESAMPLES,
    bootstrap_ci,
    paired_bootstrap_ci,
    paired_diff,
    pooled_mean,
    pooled_mean_ci,
    pooled_paired_ci,
)
from honed.stats.paired import (
    SigTest,
    mcnemar_exact,
    paired_ttest,
    sign_flip_test,
    sign_test,
    wilcoxon_signed_rank,
)

__all__ = [
    "CI_RESAMPLES",
    "SigTest",
    "bootstrap_ci",
    "mcnemar_exact",
    "paired_bootstrap_ci",
    "paired_diff",
    "paired_ttest",
    "pooled_mean",
    "pooled_mean_ci",
    "pooled_paired_ci",
    "sign_flip_test",
    "sign_test",
    "wilcoxon_signed_rank",
]
