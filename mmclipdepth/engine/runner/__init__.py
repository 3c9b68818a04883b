from .depth_runner import DepthRunner
from .mmengine_fixes import FormatOnceConfig, cuda_device_selection_skipped, format_once

__all__ = ['DepthRunner', 'FormatOnceConfig', 'cuda_device_selection_skipped', 'format_once']
