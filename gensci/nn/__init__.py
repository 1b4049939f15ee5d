"""Shared network parts: time embeddings, the condition encoder, adaLN-Zero blocks, a
transformer with relative positions, and a conditional MLP for flat vectors.

Every full network keeps the one call shape ``model(x_t, t, cond=None, mask=None)``.
"""

from gensci.nn.conditions import (
    CategoricalEmbedding,
    ConditionEncoder,
    ConditionSpec,
    SoftClusterEmbedding,
    as_spec,
    specs_from_dicts,
    specs_to_dicts,
)
from gensci.nn.conditioning import TimeConditioned
from gensci.nn.dit import Attention, DiTBlock, Dropout, FinalLayer, TransformerBlock, attention_bias, modulate
from gensci.nn.embeddings import GaussianFourierEmbedding, SinusoidalTimeEmbedding, TimeEmbedding
from gensci.nn.mlp import VectorFieldMLP, make_activation
from gensci.nn.transformer import RelativePositionBias, RelativePositionTransformer

__all__ = [
    "SinusoidalTimeEmbedding",
    "GaussianFourierEmbedding",
    "TimeEmbedding",
    "TimeConditioned",
    "ConditionSpec",
    "as_spec",
    "specs_to_dicts",
    "specs_from_dicts",
    "SoftClusterEmbedding",
    "CategoricalEmbedding",
    "ConditionEncoder",
    "modulate",
    "attention_bias",
    "Dropout",
    "Attention",
    "DiTBlock",
    "TransformerBlock",
    "FinalLayer",
    "RelativePositionBias",
    "RelativePositionTransformer",
    "VectorFieldMLP",
    "make_activation",
]
