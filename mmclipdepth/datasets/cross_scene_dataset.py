"""Cross-scene zero-shot protocol of LLM-MDE: train on some scene types, test on unseen ones (docs/llm_mde.md)."""
from typing import List, Optional, Sequence, Union

from mmengine.dataset import BaseDataset
from mmseg.registry import DATASETS

from .scene_subset import SceneSubsetDataset

__all__ = ['CrossSceneDataset']


@DATASETS.register_module()
class CrossSceneDataset(SceneSubsetDataset):
    """Keep samples whose ``scene_type`` is in ``scene_types`` (None = all) and not in ``exclude_scene_types``.

    Zero-shot: the training wrapper lists the training scene type(s); the test wrapper lists the unseen
    types and excludes the training ones, so an overlap is a ValueError. A scene type (included or excluded)
    absent from the dataset is a ValueError (catches typos such as ``dining room`` for ``dining_room``).
    """

    def __init__(self, dataset: Union[dict, BaseDataset], scene_types: Optional[Sequence[str]] = None,
                 exclude_scene_types: Optional[Sequence[str]] = None, lazy_init: bool = False):
        if isinstance(scene_types, str) or isinstance(exclude_scene_types, str):
            raise TypeError('CrossSceneDataset: scene_types / exclude_scene_types must be lists of names')
        self.include = None if scene_types is None else list(scene_types)
        self.exclude = list(exclude_scene_types or [])
        both = sorted(set(self.include or []) & set(self.exclude))
        if both:
            raise ValueError(f'CrossSceneDataset: scene types {both} are both included and excluded; '
                             'zero-shot train and test scene types must be disjoint')
        super().__init__(dataset, lazy_init=lazy_init)

    def select_indices(self) -> List[int]:
        groups = self.groups('scene_type')
        for key, names in (('scene_types', self.include or []), ('exclude_scene_types', self.exclude)):
            missing = sorted(set(names) - set(groups))
            if missing:  # a typo in exclude_scene_types would leave that type in the "unseen" test set
                raise ValueError(f'CrossSceneDataset: {key} {missing} are not in the dataset; available: '
                                 f'{sorted(groups)}')
        keep = [g for g in groups if (self.include is None or g in self.include) and g not in self.exclude]
        return sorted(i for g in keep for i in groups[g])
