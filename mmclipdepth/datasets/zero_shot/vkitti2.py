"""Virtual KITTI 2 (Cabon et al. 2020), as its release ships it."""
import os.path as osp

import numpy as np
from mmseg.registry import DATASETS

from ..zero_shot_depth_dataset import ZeroShotDepthDataset


@DATASETS.register_module()
class VKITTI2Dataset(ZeroShotDepthDataset):
    """Virtual KITTI 2: ``<Scene>/<variation>/frames/rgb/Camera_<c>/rgb_<i>.jpg`` with
    ``<Scene>/<variation>/frames/depth/Camera_<c>/depth_<i>.png`` (uint16 centimetres, sky = 65535;
    ``depth_format='png_cm'``) and ``<Scene>/<variation>/intrinsic.txt`` (per frame and camera: fx fy cx cy).
    The rgb and depth archives extract into one tree (``data_root``), or two: ``depth_root``.
    ``camera``: 0 (left, the protocols' choice) or 1; ``variations``: e.g. ``['clone']`` (default: all)."""
    NAME = 'vkitti2'
    DEPTH_FORMAT = 'png_cm'

    def __init__(self, camera: int = 0, variations=None, depth_root: str = None, **kwargs):
        if camera not in (0, 1):
            raise ValueError(f'VKITTI2Dataset: camera must be 0 or 1, got {camera!r}')
        self.camera, self.depth_root = camera, depth_root
        self.variations = list(variations) if variations else None
        self.PATTERN = f'Scene*/*/frames/rgb/Camera_{camera}/rgb_*.jpg'
        self.LAYOUT = (f'<Scene>/<variation>/{{frames/rgb/Camera_{camera}/rgb_<i>.jpg, '
                       f'frames/depth/Camera_{camera}/depth_<i>.png, intrinsic.txt}}')
        self._intrinsics = {}
        super().__init__(**kwargs)

    def _pairs(self):
        pairs = super()._pairs()
        if self.variations is not None:
            pairs = [p for p in pairs if p[0].split('/')[1] in self.variations]
            if not pairs:
                raise FileNotFoundError(f'VKITTI2Dataset: no frame of the variations {self.variations}')
        return pairs

    def depth_path_of(self, rgb: str) -> str:
        rel = rgb.replace('/frames/rgb/', '/frames/depth/').replace('/rgb_', '/depth_')[:-4] + '.png'
        if self.depth_root:
            return osp.relpath(osp.join(self.depth_root, rel), self.data_root)
        return rel

    def extras(self, rgb: str) -> dict:
        variation_dir = osp.join(self.data_root, *rgb.split('/')[:2])
        table = self._intrinsics.get(variation_dir)
        if table is None:
            path = osp.join(variation_dir, 'intrinsic.txt')
            table = {}
            if osp.isfile(path):
                rows = np.loadtxt(path, skiprows=1, ndmin=2)
                table = {(int(r[0]), int(r[1])): [float(v) for v in r[2:6]] for r in rows}
            self._intrinsics[variation_dir] = table
        frame = int(osp.splitext(osp.basename(rgb))[0].split('_')[-1])
        k = table.get((frame, self.camera))
        return dict(focal=k[0], intrinsics=k) if k else {}
