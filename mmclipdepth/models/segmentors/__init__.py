from .clip_depth_estimator import CLIPDepthEstimator

__all__ = ['CLIPDepthEstimator']
