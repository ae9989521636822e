"""The fit recommender: which file type, how many layers on the GPU, what context, how fast.

Imports only engine.formats, engine.quant and engine.hardware.
"""

from __future__ import annotations

from engine.recommend.fit import Fit, FitRequest, fit
from engine.recommend.kv_cache import ContextParams, kv_layout, kv_type
from engine.recommend.memory import DeviceMemory, MemoryEstimate, estimate
from engine.recommend.model import ModelDescription
from engine.recommend.placement import Placement
from engine.recommend.rank import Option, Recommendation, evaluate, recommend
from engine.recommend.source import resolve
from engine.recommend.weights import weight_plan

__all__ = [
    "ContextParams", "DeviceMemory", "Fit", "FitRequest", "MemoryEstimate", "ModelDescription", "Option",
    "Placement", "Recommendation", "estimate", "evaluate", "fit", "kv_layout", "kv_type", "recommend", "resolve",
    "weight_plan",
]
