from .. import _guard  # noqa: F401  (first: refuses a shadowed, empty mmclipdepth package)
from .depth_local_visualizer import DepthLocalVisualizer, depth_panels, title_band_height

__all__ = ['DepthLocalVisualizer', 'depth_panels', 'title_band_height']
