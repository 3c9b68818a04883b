from .clip_depth_estimator import CLIPDepthEstimator
from .depth_tta_model import DepthTTAModel
from .llm_depth_estimator import LLMDepthEstimator
from .multi_variant_depth_estimator import MultiVariantDepthEstimator

__all__ = ['CLIPDepthEstimator', 'DepthTTAModel', 'LLMDepthEstimator', 'MultiVariantDepthEstimator']
