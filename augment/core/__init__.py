"""Modules both modalities share: files, devices and seeds, labels, the training loop,
model files, training curves, splits and the model protocol, typed reading of JSON files
(validate), signals (interrupts) and system failures. Nothing here imports a modality."""
