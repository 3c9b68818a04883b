"""KITTI Eigen split with the annotated depth maps (docs/fidelity.md, docs/data_preparation.md)."""
from typing import Optional

from mmengine.logging import MMLogger
from mmseg.registry import DATASETS

from .base_depth_dataset import BaseDepthSplitDataset

#: fx of the rectified colour camera per recording date (KITTI raw calib_cam_to_cam.txt, P_rect_02);
#: the same values as the focal column of the BTS Eigen lists.
KITTI_FOCAL_BY_DATE = {
    '2011_09_26': 721.5377,
    '2011_09_28': 707.0493,
    '2011_09_29': 718.3351,
    '2011_09_30': 707.0912,
    '2011_10_03': 718.856,
}


@DATASETS.register_module()
class KITTIEigenDataset(BaseDepthSplitDataset):
    """KITTI (Geiger et al. 2013) Eigen split with Uhrig et al.'s annotated depth (BTS/AdaBins lists).

    Expected tree (see ``docs/data_preparation.md``)::

        data_root/
          raw/2011_09_26/2011_09_26_drive_0001_sync/image_02/data/0000000005.png   # KITTI raw
          data_depth_annotated/2011_09_26_drive_0001_sync/proj_depth/groundtruth/image_02/...png

    RGB paths in the split file are relative to ``data_prefix['img_path']`` (default ``raw``), ground
    truth to ``data_prefix['depth_map_path']`` (default ``data_depth_annotated``, the train and val
    folders of the download merged); relative prefixes are joined to ``data_root``, absolute ones are
    used as they are (e.g. ``data_prefix=dict(img_path='', depth_map_path='/x/gt')`` for the BTS tree
    where the raw drives sit directly in the root).

    Splits: ``'train'`` (23,158), ``'test'`` (697 lines, 45 with GT ``None`` -> 652 samples),
    ``'depthclip_test'`` (DepthCLIP's copy of the test list; its third column is a dense-GT path, so
    the focal comes from the recording date). Lines with GT ``None`` are skipped and counted in the
    log (``num_skipped_no_gt``). Depth PNGs are uint16, metres = value / 256 (``depth_scale=256``).
    Per-sample metainfo: ``focal`` (px). Dataset metainfo: ``min_depth=1e-3``, ``max_depth=80``.
    """

    SPLITS = {
        'train': ('kitti_eigen_train_files_with_gt.txt', 'raw', 'data_depth_annotated'),
        'test': ('kitti_eigen_test_files_with_gt.txt', 'raw', 'data_depth_annotated'),
        'depthclip_test': ('depthclip/eigen_test_files_with_gt_dense.txt', 'raw',
                           'data_depth_annotated'),
    }
    METAINFO = dict(
        dataset_name='kitti_eigen', min_depth=1e-3, max_depth=80.0, depth_scale=256.0)

    def default_focal(self, rgb: str) -> Optional[float]:
        date = rgb.split('/', 1)[0]
        focal = KITTI_FOCAL_BY_DATE.get(date, self._metainfo.get('focal'))
        if focal is None and not getattr(self, '_warned_focal', False):
            self._warned_focal = True
            MMLogger.get_current_instance().warning(
                f'KITTIEigenDataset: no focal column and unknown recording date {date!r} in '
                f'{self.split_file!r}; focal set to None')
        return focal
