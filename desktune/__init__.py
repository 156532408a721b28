"""desktune: fine-tune open language models on the machine you already have."""

__version__ = "0.1.0"
