"""Modules both modalities share: files, devices and seeds, labels, the training loop,
model files, training curves, splits and the model protocol. Nothing here imports a modality."""
