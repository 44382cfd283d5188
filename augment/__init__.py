"""augment: GAN-based data augmentation, with an honest answer to "does it help my classifier?"."""

__version__ = "0.1.0"
