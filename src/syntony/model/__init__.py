"""The interoceptive-inference model of emotional contagion (MODEL.md)."""

from syntony.model.precision import (
    ClipGain,
    GainPolicy,
    GainResult,
    PrecisionGain,
    SeedGain,
    difference_variance,
    precision_weight,
)

__all__ = [
    "ClipGain",
    "GainPolicy",
    "GainResult",
    "PrecisionGain",
    "SeedGain",
    "difference_variance",
    "precision_weight",
]
