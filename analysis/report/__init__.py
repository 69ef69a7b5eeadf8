"""The last stage: a run folder's tables -> per-question verdicts, answers and figures -> ``report.md``.

Reads only through :class:`analysis.run_folder.RunFolder` (``load_run``): every hardware fact comes
from the tables the study wrote (``hardware.csv``, ``warnings.csv``, ``sensitivity.csv``, the
``convention_*`` columns of ``results.csv``), never from a hardware model built here. The question
modules register each reviewer question (Q1..Q15, Pareto) in :data:`QUESTIONS`, in report order:
``equivalence`` (Q1, Q2), ``psg`` (Q3, Q4), ``energy`` (Q5, Q6), ``breakeven`` (Q7), ``hardware``
(Q8), ``scaling`` (Q9), ``accuracy`` (Q10, Q11), ``comparison`` (Q12, Q13), ``pareto`` (Pareto),
``direct`` (Q14), ``events`` (Q15). Each has a ``verdict(run)`` (:class:`~analysis.report.verdict.Verdict`: the
quotable sentence and the hardware-dependent claims behind it), re-checked under every alternative
pricing by :mod:`~analysis.report.sensitivity`;
:mod:`~analysis.report.paired` compares two networks on the same images (exact McNemar);
:mod:`~analysis.report.summary` draws the one-page summary figure; :mod:`~analysis.report.readme`
regenerates the README's headline answers.

    from analysis.report import load_run, question
    run = load_run("reports/quick")
    question("Q8").verdict(run).sentence
"""

from analysis.report import (  # noqa: F401  (each registers its questions)
    accuracy,
    breakeven,
    comparison,
    direct,
    energy,
    equivalence,
    events,
    fidelity,
    hardware,
    pareto,
    psg,
    scaling,
)
from analysis.report.markdown import all_answers, answers, write_report
from analysis.report.questions import QUESTIONS, Answer, Question, question, verdict_of
from analysis.report.summary import summary_figure
from analysis.report.tables import RunTables, load_run
from analysis.report.verdict import Claim, Verdict

__all__ = ["QUESTIONS", "Answer", "Claim", "Question", "RunTables", "Verdict", "all_answers", "answers", "load_run",
           "question", "summary_figure", "verdict_of", "write_report"]
