"""The image modality: prepared image bundles, the class-conditional image GAN, PNG output."""
