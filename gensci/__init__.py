"""gensci: generative models for science."""

__version__ = "0.1.0"
