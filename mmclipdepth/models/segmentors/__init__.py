from .clip_depth_estimator import CLIPDepthEstimator
from .llm_depth_estimator import LLMDepthEstimator

__all__ = ['CLIPDepthEstimator', 'LLMDepthEstimator']
