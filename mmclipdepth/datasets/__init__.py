from .transforms import *  # noqa: F401,F403
from .base_depth_dataset import SPLITS_DIR, BaseDepthSplitDataset, resolve_split_file
from .kitti_eigen import KITTIEigenDataset
from .nyu_depth_v2 import NYUDepthV2Dataset

__all__ = ['SPLITS_DIR', 'BaseDepthSplitDataset', 'resolve_split_file', 'NYUDepthV2Dataset',
           'KITTIEigenDataset']
from .depth_sequence_dataset import DepthFramePairDataset, frame_pair_collate  # noqa: E402

__all__ += ['DepthFramePairDataset', 'frame_pair_collate']
from .scene_subset import SceneSubsetDataset  # noqa: E402
from .k_shot_scene_dataset import KShotSceneDataset  # noqa: E402
from .one_per_scene_type_dataset import OnePerSceneTypeDataset  # noqa: E402
from .cross_scene_dataset import CrossSceneDataset  # noqa: E402

__all__ += ['SceneSubsetDataset', 'KShotSceneDataset', 'OnePerSceneTypeDataset', 'CrossSceneDataset']
