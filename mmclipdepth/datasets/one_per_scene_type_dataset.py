"""LLM-MDE's "Few-Shot" group: one random image per scene type (28 on NYU; paper §III-A, docs/llm_mde.md)."""
from typing import Union

from mmengine.dataset import BaseDataset
from mmseg.registry import DATASETS

from .k_shot_scene_dataset import KShotSceneDataset

__all__ = ['OnePerSceneTypeDataset']


@DATASETS.register_module()
class OnePerSceneTypeDataset(KShotSceneDataset):
    """:class:`KShotSceneDataset` with ``shots=1`` grouped by ``scene_type`` (seeded, deterministic)."""

    def __init__(self, dataset: Union[dict, BaseDataset], seed: int = 0, lazy_init: bool = False):
        super().__init__(dataset, shots=1, seed=seed, group_by='scene_type', short_policy='error',
                         lazy_init=lazy_init)
