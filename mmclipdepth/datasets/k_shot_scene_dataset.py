"""k-shot per scene type protocol of LLM-MDE (paper §III-A, docs/llm_mde.md)."""
import logging
import random
from typing import List, Union

from mmengine.dataset import BaseDataset
from mmengine.logging import print_log
from mmseg.registry import DATASETS

from .scene_subset import SceneSubsetDataset

__all__ = ['KShotSceneDataset']


@DATASETS.register_module()
class KShotSceneDataset(SceneSubsetDataset):
    """Keep ``shots`` random samples of every ``group_by`` value (``scene_type``, or ``scene``).

    Deterministic: each group's order is a ``random.Random(f'{seed}:{group}')`` shuffle of its indices,
    and the first ``shots`` are kept, so a group's picks do not depend on the other groups and the k-shot
    set contains the (k-1)-shot set for the same seed. Groups with fewer than ``shots`` samples keep all
    of them with a warning (``short_policy='all'``) or raise ValueError (``'error'``). The paper does not
    say how its 1-4 shot groups (50-100 images each) were drawn; k per scene type is this protocol.
    """

    def __init__(self, dataset: Union[dict, BaseDataset], shots: int = 1, seed: int = 0,
                 group_by: str = 'scene_type', short_policy: str = 'all', lazy_init: bool = False):
        if not isinstance(shots, int) or shots < 1:
            raise ValueError(f'KShotSceneDataset: shots must be an int >= 1, got {shots!r}')
        if short_policy not in ('all', 'error'):
            raise ValueError(f"KShotSceneDataset: short_policy must be 'all' or 'error', got {short_policy!r}")
        self.shots, self.seed, self.group_by, self.short_policy = shots, seed, group_by, short_policy
        super().__init__(dataset, lazy_init=lazy_init)

    def select_indices(self) -> List[int]:
        picks, short = [], []
        for group, idxs in sorted(self.groups(self.group_by).items()):
            order = list(idxs)
            random.Random(f'{self.seed}:{group}').shuffle(order)
            if len(order) < self.shots:
                short.append(f'{group} ({len(order)})')
            picks.extend(order[:self.shots])
        if short:
            msg = (f'KShotSceneDataset: {len(short)} {self.group_by} group(s) have fewer than {self.shots} '
                   f'samples: {", ".join(short)}')
            if self.short_policy == 'error':
                raise ValueError(msg)
            print_log(msg + '; keeping all of theirs.', logger='current', level=logging.WARNING)
        return sorted(picks)
