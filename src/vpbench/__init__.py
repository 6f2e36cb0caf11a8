"""vpbench: the hidden cost of model compression under visual prompting, as a reproducible pipeline."""

__version__ = "0.1.0"
