"""DDAD (Guizilini et al., CVPR 2020) validation frames, in the repackaging the zero-shot protocols use."""
from mmseg.registry import DATASETS

from ..zero_shot_depth_dataset import ZeroShotDepthDataset


@DATASETS.register_module()
class DDADDataset(ZeroShotDepthDataset):
    """DDAD: ``<n>_rgb.png`` with ``<n>_depth.npy`` (H x W float32 metres, 0 = no lidar return;
    ``depth_format='npy'``), the front-camera validation frames with their projected lidar as ZoeDepth's
    ``ddad.py`` reads them. DDAD itself ships scenes in the DGP format (JSON + lidar point clouds); projecting
    them needs TRI's ``dgp`` toolkit, which this package does not include."""
    NAME = 'ddad'
    PATTERN = '*_rgb.png'
    DEPTH_FORMAT = 'npy'
    LAYOUT = '<n>_rgb.png, <n>_depth.npy'

    def depth_path_of(self, rgb: str) -> str:
        return rgb[:-len('_rgb.png')] + '_depth.npy'
