from .depth_local_visualizer import DepthLocalVisualizer, depth_panels

__all__ = ['DepthLocalVisualizer', 'depth_panels']
