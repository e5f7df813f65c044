"""Estimative language by ICD 203: likelihood only in its seven bands, never beside a confidence level.

Intelligence Community Directive 203 (Analytic Standards, 2015) asks
products to say how likely something is with one set of terms, each a band
of probability, and to keep the analyst's confidence in a judgement apart
from the likelihood of an event: "we assess with moderate confidence that X
is likely" is two statements that readers merge. Briefings state confidence
in key judgements ("We assess with high confidence that ...") and
likelihood, where they need it, only with :data:`LIKELIHOOD`.
:func:`estimative_problems` finds what breaks either rule in any text: the
tests run it over every briefing, and an organisation can run it over a
briefing written from its own template.
"""

from __future__ import annotations

import re

__all__ = ["CONFIDENCE_LEVELS", "LIKELIHOOD", "OFF_SCALE", "estimative_problems"]

#: ICD 203's seven degrees of likelihood and the probability band (percent) each means
LIKELIHOOD = {
    "almost no chance": (1, 5),
    "very unlikely": (5, 20),
    "unlikely": (20, 45),
    "roughly even chance": (45, 55),
    "likely": (55, 80),
    "very likely": (80, 95),
    "almost certain": (95, 99),
}
CONFIDENCE_LEVELS = ("high", "moderate", "low")
#: hedges that say how likely something is off the scale (ICD 203's second row included: one set of terms only)
OFF_SCALE = ("probably", "probable", "improbable", "possibly", "perhaps", "maybe", "highly likely",
             "highly unlikely", "nearly certain", "almost certainly", "doubtful", "conceivably", "presumably",
             "in all likelihood", "chances are", "remote chance", "roughly even odds", "we believe", "we suspect")

_CONFIDENCE = re.compile(r"\b(?:high|moderate|low)(?:-|\s+)confidence\b|\bconfidence\s+(?:is\s+)?(?:high|moderate|low)\b",
                         re.IGNORECASE)
_LIKELIHOOD = re.compile(r"\b(?:" + "|".join(sorted((re.escape(t) for t in LIKELIHOOD), key=len, reverse=True))
                         + r")\b", re.IGNORECASE)
_OFF_SCALE = re.compile(r"\b(?:" + "|".join(re.escape(t) for t in OFF_SCALE) + r")\b", re.IGNORECASE)
# a sentence ends at . ! ? or a line break; decimals ("0.4%") and abbreviations stay inside
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9*\[(])|\n+")


def estimative_problems(text: str) -> list[str]:
    """Every sentence of ``text`` that uses a likelihood term off the scale or pairs one with a confidence level.

    Examples
    --------
    >>> estimative_problems("We assess with high confidence that the network is one operator. It will likely return.")
    []
    >>> estimative_problems("The operator probably sits in Tehran.")
    ['off the ICD 203 scale ("probably"): The operator probably sits in Tehran.']
    >>> estimative_problems("We assess with low confidence that it is likely state-run.")
    ['confidence level beside a likelihood ("likely"): We assess with low confidence that it is likely state-run.']
    """
    problems = []
    for sentence in _SENTENCE_END.split(text):
        sentence = " ".join(sentence.split())
        off = _OFF_SCALE.search(sentence)
        if off:
            problems.append(f'off the ICD 203 scale ("{off.group()}"): {sentence}')
        likelihood = _LIKELIHOOD.search(sentence)
        if likelihood and _CONFIDENCE.search(sentence):
            problems.append(f'confidence level beside a likelihood ("{likelihood.group()}"): {sentence}')
    return problems
