"""The project's own conditional tabular GAN and the encoder it trains on."""

from augment.tabular.encoder import TableEncoder
from augment.tabular.gan import TabGAN, TabGANConfig

__all__ = ["TabGAN", "TabGANConfig", "TableEncoder"]
