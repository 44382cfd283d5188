"""The four pipeline steps as functions: ingest, train, generate, evaluate.

``import augment`` exposes them as ``augment.ingest`` and so on; the CLI commands call them.
"""
