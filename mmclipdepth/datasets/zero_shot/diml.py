"""DIML/CVL RGB-D (Cho et al. 2021) indoor and outdoor test sets, as ZoeDepth's protocol reads them."""
import os.path as osp

from mmseg.registry import DATASETS

from ..zero_shot_depth_dataset import ZeroShotDepthDataset


@DATASETS.register_module()
class DIMLIndoorDataset(ZeroShotDepthDataset):
    """DIML indoor test: ``LR/<scene>/color/<n>_c.png`` with ``LR/<scene>/depth_filled/<n>_depth_filled.png``
    (uint16 millimetres, ``depth_format='png_mm'``). ``resolution='HR'`` for the high-resolution frames."""
    NAME = 'diml_indoor'
    DEPTH_FORMAT = 'png_mm'

    def __init__(self, resolution: str = 'LR', **kwargs):
        if resolution not in ('LR', 'HR'):
            raise ValueError(f"DIMLIndoorDataset: resolution must be 'LR' or 'HR', got {resolution!r}")
        self.PATTERN = f'{resolution}/*/color/*_c.png'
        self.LAYOUT = f'{resolution}/<scene>/{{color/<n>_c.png, depth_filled/<n>_depth_filled.png}}'
        super().__init__(**kwargs)

    def depth_path_of(self, rgb: str) -> str:
        scene = osp.dirname(osp.dirname(rgb))
        return osp.join(scene, 'depth_filled', osp.basename(rgb)[:-len('_c.png')] + '_depth_filled.png')


@DATASETS.register_module()
class DIMLOutdoorDataset(ZeroShotDepthDataset):
    """DIML outdoor test: ``<scene>/outleft/<n>.png`` with ``<scene>/depthmap/<n>.png`` (uint16 millimetres,
    ``depth_format='png_mm'``)."""
    NAME = 'diml_outdoor'
    PATTERN = '*/outleft/*.png'
    DEPTH_FORMAT = 'png_mm'
    LAYOUT = '<scene>/{outleft, depthmap}/<n>.png'

    def depth_path_of(self, rgb: str) -> str:
        return osp.join(osp.dirname(osp.dirname(rgb)), 'depthmap', osp.basename(rgb))
