"""iBims-1 (Koch et al., ECCV-W 2018), as its core release ships it."""
import os.path as osp

from mmseg.registry import DATASETS

from ..zero_shot_depth_dataset import ZeroShotDepthDataset
from .sun_rgbd import read_intrinsics


@DATASETS.register_module()
class IBims1Dataset(ZeroShotDepthDataset):
    """iBims-1 core (``ibims1_core_raw``): ``imagelist.txt`` names the images; ``rgb/<n>.png``, ``depth/<n>.png``
    (uint16, metres = value * 50 / 65535, the release's encoding; ``depth_format='png_ibims'``), and the masks
    ``mask_invalid/<n>.png`` and ``mask_transp/<n>.png`` (0 = invalid / transparent: excluded), ``calib/<n>.txt``
    (3x3 camera matrix)."""
    NAME = 'ibims'
    PATTERN = 'rgb/*.png'
    DEPTH_FORMAT = 'png_ibims'
    LAYOUT = 'imagelist.txt, {rgb, depth, mask_invalid, mask_transp}/<n>.png, calib/<n>.txt'

    def _pairs(self):
        if self.split_file is None and osp.isfile(osp.join(self.data_root, 'imagelist.txt')):
            self.split_file = 'imagelist.txt'
            with open(osp.join(self.data_root, 'imagelist.txt'), encoding='utf-8') as f:
                names = [ln.strip() for ln in f if ln.strip()]
            if not names:
                raise ValueError(f'IBims1Dataset: {osp.join(self.data_root, "imagelist.txt")!r} lists no image')
            return [(osp.join('rgb', n + '.png'), None, i + 1) for i, n in enumerate(names)]
        return super()._pairs()

    def depth_path_of(self, rgb: str) -> str:
        return osp.join('depth', osp.basename(rgb))

    def extras(self, rgb: str) -> dict:
        name = osp.splitext(osp.basename(rgb))[0]
        out = dict(mask_paths=dict(
            invalid=osp.join(self.data_root, 'mask_invalid', name + '.png'),
            transparent=osp.join(self.data_root, 'mask_transp', name + '.png')))
        calib = osp.join(self.data_root, 'calib', name + '.txt')
        if osp.isfile(calib):
            fx, fy, cx, cy = read_intrinsics(calib)
            out.update(focal=fx, intrinsics=[fx, fy, cx, cy])
        return out
