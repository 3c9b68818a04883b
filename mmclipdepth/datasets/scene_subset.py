"""Shared base of the LLM-MDE few-/zero-shot protocol wrappers (docs/llm_mde.md). Not registered itself."""
import copy
from collections import defaultdict
from typing import Dict, List, Union

from mmengine.dataset import BaseDataset, force_full_init
from mmseg.registry import DATASETS

from .samplers.per_sample_seed_sampler import split_seeded_index

__all__ = ['SceneSubsetDataset']


class SceneSubsetDataset:
    """A view of ``dataset`` (config or instance) keeping the indices ``select_indices()`` returns.

    Needs ``dataset.get_data_info(i)`` to carry the grouping key (``scene_type`` by default); indices stay
    in the inner dataset's order. ``__getitem__`` runs the inner dataset's pipeline.
    """

    def __init__(self, dataset: Union[dict, BaseDataset], lazy_init: bool = False):
        self.dataset = DATASETS.build(dataset) if isinstance(dataset, dict) else dataset
        self._metainfo = copy.deepcopy(self.dataset.metainfo)
        self.indices: List[int] = []
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    @property
    def metainfo(self) -> dict:
        return copy.deepcopy(self._metainfo)

    def full_init(self):
        if self._fully_initialized:
            return
        self.dataset.full_init()
        self.indices = [int(i) for i in self.select_indices()]
        if not self.indices:
            raise ValueError(f'{type(self).__name__}: the selection is empty (inner dataset has '
                             f'{len(self.dataset)} samples)')
        self._fully_initialized = True

    def select_indices(self) -> List[int]:
        raise NotImplementedError

    def groups(self, key: str = 'scene_type') -> Dict[str, List[int]]:
        """``{key value: [inner indices in dataset order]}``; a missing/None key raises ValueError."""
        out = defaultdict(list)
        for i in range(len(self.dataset)):
            info = self.dataset.get_data_info(i)
            value = info.get(key)
            if value is None:
                where = info.get('split_file', info.get('img_path', f'sample {i}'))
                line = info.get('split_line')
                raise ValueError(f'{type(self).__name__}: sample {i} ({where}'
                                 f'{f", line {line}" if line else ""}) has no {key!r} in its data info; '
                                 f'the wrapped dataset must provide it')
            out[value].append(i)
        return dict(out)

    @force_full_init
    def get_data_info(self, idx: int) -> dict:
        return self.dataset.get_data_info(self.indices[idx])

    @force_full_init
    def __getitem__(self, idx):
        idx, seed = split_seeded_index(idx)  # keep a PerSampleSeedSampler seed for the inner dataset
        return self.dataset[self.indices[idx] if seed is None else (self.indices[idx], seed)]

    @force_full_init
    def __len__(self) -> int:
        return len(self.indices)

    @force_full_init
    def scene_types(self) -> List[str]:
        """Sorted scene types of the kept samples."""
        return sorted({self.dataset.get_data_info(i).get('scene_type') for i in self.indices})
