"""The study stage: config -> plan -> trained networks -> evaluated and counted units -> priced
tables in a run folder.

``config`` (StudyConfig, validation, digests) <- ``plan`` (typed units) <- ``training``,
``networks`` (the ANN or the user's model, weights, every method from its parent), ``direct``
(directly trained SNNs, per T), ``onestep`` (Q14: an SNN against its one-step form) <- ``evaluate``
(accuracy + one ledger, torchrun-aware via ``distributed``), ``fidelity`` (Q4, Q10),
``thresholds`` (Q11) <- ``pricing`` (results/layers/breakeven/sweep tables) <- ``folder`` (lock,
force) <- ``runner`` (:func:`run_study`).
"""

from analysis.run_folder import IncompleteRunError, RunFolderError
from analysis.study.config import StudyConfig
from analysis.study.folder import study_folder
from analysis.study.runner import load_tables, run_study

__all__ = ["IncompleteRunError", "RunFolderError", "StudyConfig", "load_tables", "run_study", "study_folder"]
