"""``augment evaluate`` for images: does adding synthetic images to the real training data help a
downstream CNN, versus classic augmentation, and where real images are scarce?

``evaluate_images`` runs the protocol and returns a JSON-ready dict; ``write_image_evaluation``
writes the metrics JSON, plot CSVs, the sample grid and the Markdown summary.
"""

from augment.evaluation.images.report import write_image_evaluation
from augment.evaluation.images.runner import evaluate_images

__all__ = ["evaluate_images", "write_image_evaluation"]
