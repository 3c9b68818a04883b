"""Hypersim (Roberts et al., ICCV 2021), as its release ships it."""
import csv
import os.path as osp

from mmseg.registry import DATASETS

from ..base_depth_dataset import resolve_split_file
from ..zero_shot_depth_dataset import ZeroShotDepthDataset


@DATASETS.register_module()
class HyperSimDataset(ZeroShotDepthDataset):
    """Hypersim: ``<scene>/images/scene_<cam>_final_preview/frame.<i>.tonemap.jpg`` with
    ``<scene>/images/scene_<cam>_geometry_hdf5/frame.<i>.depth_meters.hdf5`` (dataset ``'dataset'``, float16).
    Those hold the **distance to the camera centre**, not planar depth: ``LoadReleaseDepth``
    (``depth_format='hdf5_distance'``) converts them with the camera's pinhole model (focal 886.81 px for the
    1024x768 frames, principal point at the centre; the release's 60-degree field of view), as ZoeDepth's
    ``hypersim_distance_to_depth``. ``split_file``: either a list of RGB paths or the release's
    ``metadata_images_split_scene_v1.csv`` (rows of ``split_partition_name`` == ``partition``, public frames)."""
    NAME = 'hypersim'
    PATTERN = '*/images/scene_cam_*_final_preview/frame.*.tonemap.jpg'
    DEPTH_FORMAT = 'hdf5_distance'
    LAYOUT = ('<scene>/images/{scene_<cam>_final_preview/frame.<i>.tonemap.jpg, '
              'scene_<cam>_geometry_hdf5/frame.<i>.depth_meters.hdf5}')
    FOCAL = 886.81

    def __init__(self, partition: str = 'test', **kwargs):
        self.partition = partition
        super().__init__(**kwargs)

    def _pairs(self):
        if self.split_file is None or not str(self.split_file).endswith('.csv'):
            return super()._pairs()
        path = resolve_split_file(self.split_file, self.data_root)
        pairs = []
        with open(path, newline='', encoding='utf-8') as f:
            reader = csv.DictReader(f)
            need = {'scene_name', 'camera_name', 'frame_id', 'included_in_public_release', 'split_partition_name'}
            if not need <= set(reader.fieldnames or []):
                raise ValueError(f'{path}: not the Hypersim split CSV (needs columns {sorted(need)}, has '
                                 f'{reader.fieldnames})')
            for n, row in enumerate(reader, 2):
                if row['split_partition_name'] != self.partition or row['included_in_public_release'] != 'True':
                    continue
                rgb = osp.join(row['scene_name'], 'images', f'scene_{row["camera_name"]}_final_preview',
                               f'frame.{int(row["frame_id"]):04d}.tonemap.jpg')
                pairs.append((rgb, None, n))
        if not pairs:
            raise ValueError(f'{path}: no public frame of partition {self.partition!r}')
        self.split_file = path
        return pairs

    def depth_path_of(self, rgb: str) -> str:
        return rgb.replace('_final_preview', '_geometry_hdf5').replace('.tonemap.jpg', '.depth_meters.hdf5')

    def extras(self, rgb: str) -> dict:
        return dict(focal=self.FOCAL)
