"""NYU Depth v2 in the BTS layout with the standard split files (docs/fidelity.md, docs/data_preparation.md)."""
import os.path as osp
import re

from mmseg.registry import DATASETS

from .base_depth_dataset import BaseDepthSplitDataset

#: NYU scene names end in an index: ``kitchen_0028b``, ``living_room_0019``, ``nyu_office_0``.
_SCENE_INDEX = re.compile(r'_\d+[a-z]?$')


def nyu_scene_type(folder: str) -> str:
    """Scene type = scene name without its ``_NNNN[a-z]`` index (``kitchen_0028b`` -> ``kitchen``).

    A folder without an index suffix (the official splits' ``bathroom/``) is already a scene type.
    """
    return _SCENE_INDEX.sub('', folder)


@DATASETS.register_module()
class NYUDepthV2Dataset(BaseDepthSplitDataset):
    """NYU Depth v2 (Silberman et al., ECCV 2012) read through BTS/AdaBins split files.

    Expected tree (BTS layout; see ``docs/data_preparation.md``)::

        data_root/
          sync/<scene>/rgb_XXXXX.jpg, sync_depth_XXXXX.png          # split='train' (24,231)
          official_splits/test/<scene_type>/rgb_XXXXX.jpg, ...      # split='test' (654)
          official_splits/train/<scene_type>/rgb_XXXXX.jpg, ...     # split='official_train' (795)

    Splits (``split=``): ``'train'`` (``nyudepthv2_train_files_with_gt.txt``, relative to ``sync/``),
    ``'test'`` (``nyudepthv2_test_files_with_gt.txt``, relative to ``official_splits/test/``),
    ``'official_train'`` (the 795-image official labelled list from DepthCLIP,
    ``depthclip/nyudepthv2_train_files_with_gt_dense.txt``, relative to ``official_splits/train/``),
    ``'depthclip_test'`` (DepthCLIP's 654-image test list, another order). ``split_file=`` replaces
    the list but keeps the split's folders; ``data_prefix=dict(img_path=..., depth_map_path=...)``
    replaces the folders.

    Depth PNGs are uint16 millimetres (``depth_scale=1000``, in metainfo and in each sample).
    Per-sample metainfo: ``focal`` (third column, else 518.8579 px), ``scene`` (``kitchen_0028b``;
    ``None`` for the official splits, which keep only the scene type), ``scene_type`` (``kitchen``).
    Dataset metainfo: ``min_depth=1e-3``, ``max_depth=10`` (evaluation range), ``depth_scale``,
    ``focal``.
    """

    SPLITS = {
        'train': ('nyudepthv2_train_files_with_gt.txt', 'sync', 'sync'),
        'test': ('nyudepthv2_test_files_with_gt.txt', 'official_splits/test',
                 'official_splits/test'),
        'official_train': ('depthclip/nyudepthv2_train_files_with_gt_dense.txt',
                           'official_splits/train', 'official_splits/train'),
        'depthclip_test': ('depthclip/nyudepthv2_test_files_with_gt_dense.txt',
                           'official_splits/test', 'official_splits/test'),
    }
    METAINFO = dict(
        dataset_name='nyu_depth_v2', min_depth=1e-3, max_depth=10.0, depth_scale=1000.0,
        focal=518.8579)

    def parse_paths(self, rgb: str, gt: str, line_no: int) -> dict:
        folder = osp.basename(osp.dirname(rgb))
        scene_type = nyu_scene_type(folder)
        scene = folder if scene_type != folder else None
        return dict(scene=scene, scene_type=scene_type or None)
