from .. import _guard  # noqa: F401  (first: refuses a shadowed, empty mmclipdepth package)
from .transforms import *  # noqa: F401,F403
from .samplers import *  # noqa: F401,F403
from .base_depth_dataset import SPLITS_DIR, BaseDepthSplitDataset, resolve_split_file
from .cross_scene_dataset import CrossSceneDataset
from .depth_folder_dataset import DepthFolderDataset
from .depth_sequence_dataset import DepthFramePairDataset, frame_pair_collate
from .k_shot_scene_dataset import KShotSceneDataset
from .kitti_eigen import KITTIEigenDataset
from .nyu_depth_v2 import NYUDepthV2Dataset
from .one_per_scene_type_dataset import OnePerSceneTypeDataset
from .scene_subset import SceneSubsetDataset
from .zero_shot import *  # noqa: F401,F403
from .zero_shot_depth_dataset import ZeroShotDepthDataset

__all__ = ['SPLITS_DIR', 'BaseDepthSplitDataset', 'resolve_split_file', 'NYUDepthV2Dataset',
           'KITTIEigenDataset', 'DepthFolderDataset', 'DepthFramePairDataset', 'frame_pair_collate', 'SceneSubsetDataset',
           'KShotSceneDataset', 'OnePerSceneTypeDataset', 'CrossSceneDataset', 'ZeroShotDepthDataset']
