from .base_depth_head import BaseDepthHead
from .bin_weighted_depth_head import BinWeightedDepthHead
from .depth_adapter_head import DepthAdapterHead

__all__ = ['BaseDepthHead', 'BinWeightedDepthHead', 'DepthAdapterHead']
