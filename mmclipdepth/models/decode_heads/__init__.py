from .base_depth_head import BaseDepthHead
from .bin_weighted_depth_head import BinWeightedDepthHead
from .depth_adapter_head import DepthAdapterHead
from .llm_mde_adaptation_head import LLMMDEAdaptationHead
from .mirror_depth_head import FiLM, MirrorDepthHead

__all__ = ['BaseDepthHead', 'BinWeightedDepthHead', 'DepthAdapterHead', 'FiLM', 'MirrorDepthHead',
           'LLMMDEAdaptationHead']
