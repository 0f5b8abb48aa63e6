"""Graded text-overlap scorers: SQuAD token F1, ROUGE-L (``rouge_score``), sentence BLEU
(``sacrebleu``). The score is the metric in [0, 1]; the eval passes at or above ``threshold``.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable
from typing import Any

from honed.evals.base import EvalContext, EvalResult
from honed.evals.builtin import SpecScorer, empty, reference
from honed.evals.normalize import clip, strip_punctuation
from honed.task.eval_specs import TextMetric

Metric = Callable[[str, str], float]

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_WORDS = re.compile(r"\w+")
MAX_WORDS_SHOWN = 8


def squad_normalize(text: str) -> str:
    """SQuAD answer normalization: lower case, no punctuation, no articles, single spaces."""
    text = strip_punctuation(text.lower()).translate(str.maketrans("", "", string.punctuation))
    return " ".join(_ARTICLES.sub(" ", text).split())


def token_f1(prediction: str, truth: str) -> float:
    """SQuAD-style token F1 between a prediction and a reference."""
    pred, gold = squad_normalize(prediction).split(), squad_normalize(truth).split()
    if not pred or not gold:
        return float(pred == gold)
    same = sum((Counter(pred) & Counter(gold)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(gold)
    return 2 * precision * recall / (precision + recall)


class _UnicodeTokenizer:
    """rouge_score's tokenizer keeps only ``[a-z0-9]``; this one keeps any word character."""

    def __init__(self, stemmer: Any) -> None:
        self.stemmer = stemmer

    def tokenize(self, text: str) -> list[str]:
        tokens = _WORDS.findall(text.lower())
        return [self.stemmer.stem(t) if len(t) > 3 and t.isascii() else t for t in tokens]


class RougeL:
    """ROUGE-L F-measure with Porter stemming; the ``rouge_score`` scorer is built on first use."""

    def __init__(self) -> None:
        self._scorer: Any = None

    def __call__(self, prediction: str, truth: str) -> float:
        if self._scorer is None:
            from nltk.stem import porter
            from rouge_score import rouge_scorer

            tokenizer = _UnicodeTokenizer(porter.PorterStemmer())
            self._scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=tokenizer)
        return float(self._scorer.score(truth, prediction)["rougeL"].fmeasure)


def sentence_bleu(prediction: str, truth: str) -> float:
    """``sacrebleu`` sentence BLEU (exponential smoothing), scaled to [0, 1]."""
    import sacrebleu

    return float(sacrebleu.sentence_bleu(prediction, [truth]).score) / 100.0


def metric_for(kind: str) -> Metric:
    if kind == "f1":
        return token_f1
    if kind == "rouge_l":
        return RougeL()
    if kind == "bleu":
        return sentence_bleu
    raise ValueError(f"unknown text metric {kind!r}; use f1, rouge_l or bleu")


def _word_gaps(prediction: str, truth: str) -> str:
    pred, gold = squad_normalize(prediction).split(), squad_normalize(truth).split()
    missing = list(dict.fromkeys(w for w in gold if w not in pred))
    extra = list(dict.fromkeys(w for w in pred if w not in gold))
    parts = []
    if missing:
        parts.append("missing words: " + ", ".join(missing[:MAX_WORDS_SHOWN]))
    if extra:
        parts.append("extra words: " + ", ".join(extra[:MAX_WORDS_SHOWN]))
    return "; " + "; ".join(parts) if parts else ""


class TextMetricScorer(SpecScorer):
    """f1, rouge_l or bleu of the output against the rendered reference."""

    def __init__(self, spec: TextMetric) -> None:
        super().__init__(spec)
        self.spec = spec
        self.metric = metric_for(spec.type)

    def check(self, ctx: EvalContext) -> EvalResult:
        expected = reference(self.spec.expected, ctx.example)
        if not ctx.output.strip() and expected.strip():
            return empty(expected)
        score = min(1.0, max(0.0, self.metric(ctx.output, expected)))
        passed = score >= self.spec.threshold
        verdict = ">=" if passed else "<"
        feedback = (f"{self.spec.type} {score:.2f} {verdict} threshold {self.spec.threshold:.2f}; "
                    f"expected {clip(expected)}, got {clip(ctx.output)}")
        if not passed:
            feedback += _word_gaps(ctx.output, expected)
        labels = {} if passed else {"category": "low_overlap"}
        return EvalResult(score, passed, feedback, labels)
