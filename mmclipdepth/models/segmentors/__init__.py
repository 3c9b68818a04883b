from .clip_depth_estimator import CLIPDepthEstimator
from .depth_tta_model import DepthTTAModel
from .llm_depth_estimator import LLMDepthEstimator

__all__ = ['CLIPDepthEstimator', 'DepthTTAModel', 'LLMDepthEstimator']
