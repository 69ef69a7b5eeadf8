"""The last stage: a run folder's tables -> per-question answers and figures -> ``report.md``.

Reads only through :class:`analysis.run_folder.RunFolder` (``load_run``), never a live network. The
question modules register each reviewer question (Q1..Q13, Pareto) in :data:`QUESTIONS`, in report
order: ``equivalence`` (Q1, Q2), ``psg`` (Q3, Q4), ``energy`` (Q5, Q6), ``breakeven`` (Q7),
``hardware`` (Q8, Q9), ``accuracy`` (Q10, Q11), ``comparison`` (Q12, Q13, Pareto), ``direct`` (Q14).
"""

from analysis.report import accuracy, breakeven, comparison, direct, energy, equivalence, hardware, psg  # noqa: F401
from analysis.report.markdown import all_answers, answers, write_report
from analysis.report.questions import QUESTIONS, Answer, Question, question
from analysis.report.tables import RunTables, load_run

__all__ = ["QUESTIONS", "Answer", "Question", "RunTables", "all_answers", "answers", "load_run", "question",
           "write_report"]
