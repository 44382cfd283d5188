"""The table modality: schema, prepared bundles, the encoder, TabGAN, writers, evaluation."""
