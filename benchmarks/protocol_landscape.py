"""The fake-endpoint landscape: a scripted task model whose accuracy depends on the prompt.

Search efficiency without the embedded model's noise and cost: 8 support intents; a prompt gets
an example right with a probability that grows when the system prompt names the label set, with
each few-shot demo (up to 4), and when it asks for the label alone. The draw is a hash of the
prompt and the example, so the same prompt always gets the same answers.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

LABELS = ["billing", "card_lost", "card_arrival", "refund", "transfer", "top_up", "pin",
          "fees"]
WORDS = {"billing": "invoice charge", "card_lost": "lost stolen card", "card_arrival":
         "new card delivery", "refund": "money back refund", "transfer": "send transfer",
         "top_up": "top up wallet", "pin": "pin code blocked", "fees": "fee cost"}


def rows(n: int = 600, seed: int = 0) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        label = LABELS[i % len(LABELS)]
        words = WORDS[label].split() + rng.sample(["please", "help", "today", "my", "why",
                                                  "account", "urgent", "hi"], 3)
        rng.shuffle(words)
        out.append({"text": f"#{i} " + " ".join(words), "label": label})
    return out


def answer(request: Any) -> str:
    messages = request.messages
    system = messages[0].content if messages[0].role == "system" else ""
    text = messages[-1].content
    truth = next((lab for lab in LABELS if all(w in text for w in WORDS[lab].split()[:1])),
                 LABELS[0])
    demos = sum(1 for m in messages if m.role == "assistant")
    named = sum(1 for lab in LABELS if lab in system) >= len(LABELS) // 2
    only = "only" in system.lower() or "just the" in system.lower()
    p = 0.25 + 0.25 * named + 0.05 * min(demos, 4) + 0.15 * only
    draw = int(hashlib.sha256((system + "|" + text + f"|{demos}").encode()).hexdigest(),
               16) % 1000 / 1000
    if draw < p:
        return truth
    return LABELS[int(draw * 997) % len(LABELS)] if named else f"It is about {truth}."
