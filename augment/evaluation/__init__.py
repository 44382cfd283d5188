"""``augment evaluate``: does adding synthetic rows to the real training data help a classifier?

``evaluate_tabular`` runs the protocol and returns a JSON-ready dict; ``write_evaluation`` writes
the metrics JSON, plot CSVs and the Markdown summary.
"""

from augment.evaluation.report import write_evaluation
from augment.evaluation.runner import evaluate_tabular

__all__ = ["evaluate_tabular", "write_evaluation"]
