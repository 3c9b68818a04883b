"""DIODE (Vasiljevic et al. 2019), as its release ships it."""
import os.path as osp

from mmseg.registry import DATASETS

from ..zero_shot_depth_dataset import ZeroShotDepthDataset


@DATASETS.register_module()
class DIODEDataset(ZeroShotDepthDataset):
    """DIODE: ``<split>/<scene_type>/scene_<i>/scan_<j>/<n>.png`` with ``<n>_depth.npy`` (H x W x 1 float32
    metres) and ``<n>_depth_mask.npy`` (H x W, 1 = valid; ``depth_format='npy_diode'``). ``scene_type``:
    ``'indoors'`` or ``'outdoor'``; ``split``: ``'val'`` (the test set of the zero-shot protocols) or
    ``'train'``. Intrinsics: 886.81 px focal for the 1024x768 frames (the release's FARO scanner
    projection)."""
    NAME = 'diode'
    DEPTH_FORMAT = 'npy_diode'
    FOCAL = 886.81

    def __init__(self, scene_type: str = 'indoors', split: str = 'val', **kwargs):
        if scene_type not in ('indoors', 'outdoor'):
            raise ValueError(f"DIODEDataset: scene_type must be 'indoors' or 'outdoor', got {scene_type!r}")
        if split not in ('val', 'train'):
            raise ValueError(f"DIODEDataset: split must be 'val' or 'train', got {split!r}")
        self.scene_type, self.split = scene_type, split
        self.PATTERN = f'{split}/{scene_type}/scene_*/scan_*/*.png'
        self.LAYOUT = f'{split}/{scene_type}/scene_<i>/scan_<j>/{{<n>.png, <n>_depth.npy, <n>_depth_mask.npy}}'
        self.NAME = f'diode_{scene_type}'
        super().__init__(**kwargs)

    def depth_path_of(self, rgb: str) -> str:
        return rgb[:-4] + '_depth.npy'

    def extras(self, rgb: str) -> dict:
        return dict(mask_paths=dict(valid=osp.join(self.data_root, rgb[:-4] + '_depth_mask.npy')), focal=self.FOCAL)
