"""The study stage: config -> plan -> counting -> pricing -> tables in a run folder.

``config`` (StudyConfig, validation, digests) <- ``plan`` (typed ``units``, from the methods'
properties) and ``measures`` (a registry of what is measured besides counting, each applying to the
methods whose properties fit) <- ``training``, ``networks`` (the ANN or the user's model, weights,
every method from its parent), ``direct`` (directly trained SNNs, per T) <- ``work`` (counting: each
unit evaluated and counted, torchrun-aware via ``distributed``) <- ``pricing`` (every ledger priced
once under models built once; ``breakeven``) <- ``folder`` (lock, force) <- ``runner``
(:func:`run_study`, orchestration only). ``checkpoint`` counts one checkpoint as a study does.
"""

from analysis.run_folder import IncompleteRunError, RunFolderError
from analysis.study.config import StudyConfig
from analysis.study.folder import study_folder
from analysis.study.runner import load_tables, run_study

__all__ = ["IncompleteRunError", "RunFolderError", "StudyConfig", "load_tables", "run_study", "study_folder"]
