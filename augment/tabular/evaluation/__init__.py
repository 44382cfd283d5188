"""Table evaluation: classifiers, recipes (SMOTE-NC), fidelity, privacy, the runner."""
