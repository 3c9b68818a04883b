"""Pairs of consecutive frames of one sequence, for temporal-consistency evaluation (CLIP2Depth, docs/mirror.md).

Each sample of :class:`DepthFramePairDataset` is a *pair* (frame t-1, frame t) of the same sequence
(a KITTI drive + camera folder, an NYU sync scene folder), both run through the wrapped dataset's
pipeline. :func:`frame_pair_collate` flattens a batch of pairs into ordinary frames, so any depth model
predicts them unchanged; every frame's data sample carries ``pair_id`` (the dataset index),
``pair_frame`` (0 = earlier, 1 = later), ``sequence`` and ``frame_index``. Because a pair is one
dataset item, a distributed sampler never splits it across processes: the temporal metric sees both
frames in the same ``process`` call and stores only a few numbers per pair.
"""
import copy
import os.path as osp
import re
from collections import OrderedDict
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.dataset import pseudo_collate
from mmengine.logging import MMLogger
from mmengine.registry import FUNCTIONS
from mmseg.registry import DATASETS

__all__ = ['DepthFramePairDataset', 'frame_pair_collate', 'frame_number']

_DIGITS = re.compile(r'\d+')


def frame_number(path: str) -> int:
    """The last run of digits in a file name: ``rgb_00050.jpg`` -> 50, ``0000000005.png`` -> 5."""
    runs = _DIGITS.findall(osp.splitext(osp.basename(path))[0])
    if not runs:
        raise ValueError(f'cannot read a frame number from file name {osp.basename(path)!r} ({path}); '
                         'sequence frames must be numbered (rgb_00050.jpg, 0000000005.png)')
    return int(runs[-1])


@FUNCTIONS.register_module()
def frame_pair_collate(data_batch: Sequence) -> dict:
    """Flatten a batch of frame pairs ``[[a0, b0], [a1, b1], ...]`` into ``[a0, b0, a1, b1, ...]`` and
    collate it with mmengine's ``pseudo_collate``. Use as ``collate_fn=dict(type='frame_pair_collate')``
    with :class:`DepthFramePairDataset`; plain samples pass through unchanged."""
    flat = []
    for item in data_batch:
        if isinstance(item, (list, tuple)):
            flat.extend(item)
        else:
            flat.append(item)
    return pseudo_collate(flat)


@DATASETS.register_module()
class DepthFramePairDataset:
    """Consecutive frame pairs of the sequences in any depth dataset (a dataset wrapper).

    The wrapped ``dataset`` (e.g. ``NYUDepthV2Dataset`` / ``KITTIEigenDataset`` with a split file that
    lists the frames of whole sequences, test pipeline) is grouped into sequences (``sequence_key``:
    ``'dirname'`` = the folder of the RGB file, i.e. one NYU sync scene or one KITTI drive's camera
    folder; or any per-sample metainfo key such as ``'scene'``), each sequence is sorted by frame number
    (the last digits of the RGB file name) and every two neighbours ``(t-1, t)`` with a frame-number gap
    ``<= max_frame_gap`` (``None``: any gap) form one sample. ``sequences`` keeps only the named
    sequences (a name matches the sequence's folder relative to the image prefix or any component of
    it, e.g. ``'kitchen_0028b'`` or ``'2011_09_26_drive_0002_sync'``). The same frame listed twice is
    an error.

    ``__getitem__`` returns ``[frame_a, frame_b]`` (each the wrapped pipeline's output); use
    ``collate_fn=dict(type='frame_pair_collate')`` in the dataloader. Interior frames belong to two
    pairs, so a per-frame metric on this dataset counts them twice and, more importantly, mmengine
    truncates per-frame results to ``len(dataset)`` (the number of pairs): evaluate accuracy
    (``DepthEvalMetric``) on the ordinary dataset, and only pair-aware metrics
    (``TemporalConsistencyMetric``, ``SpatialContinuityMetric``) here.
    """

    def __init__(self,
                 dataset: Union[dict, object],
                 max_frame_gap: Optional[int] = None,
                 sequences: Optional[Sequence[str]] = None,
                 sequence_key: str = 'dirname',
                 lazy_init: bool = False):
        if max_frame_gap is not None and (not isinstance(max_frame_gap, int) or max_frame_gap < 1):
            raise ValueError(f'max_frame_gap must be None or an int >= 1, got {max_frame_gap!r}')
        if isinstance(sequences, str):
            sequences = [sequences]
        self.dataset = DATASETS.build(dataset) if isinstance(dataset, dict) else dataset
        self.max_frame_gap = max_frame_gap
        self.sequences = list(sequences) if sequences is not None else None
        self.sequence_key = sequence_key
        self.pairs: List[Tuple[int, int]] = []
        self.pair_meta: List[dict] = []
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    @property
    def metainfo(self) -> dict:
        return copy.deepcopy(self.dataset.metainfo)

    def _sequence_name(self, info: dict) -> str:
        if self.sequence_key == 'dirname':
            folder = osp.dirname(info['img_path'])
            prefix = (getattr(self.dataset, 'data_prefix', None) or {}).get('img_path', '')
            if prefix and (osp.normpath(folder) + osp.sep).startswith(osp.normpath(prefix) + osp.sep):
                folder = osp.relpath(folder, prefix)
            return folder.replace(osp.sep, '/')
        if self.sequence_key not in info or info[self.sequence_key] is None:
            raise KeyError(f'DepthFramePairDataset: sequence_key {self.sequence_key!r} is missing from '
                           f'sample {info.get("img_path")!r}; use sequence_key="dirname" or a metainfo key '
                           'the dataset sets (e.g. "scene" for NYU sync frames)')
        return str(info[self.sequence_key])

    def _wanted(self, name: str) -> bool:
        if self.sequences is None:
            return True
        return any(self._wanted_one(s, name) for s in self.sequences)

    def full_init(self) -> None:
        if self._fully_initialized:
            return
        if hasattr(self.dataset, 'full_init'):
            self.dataset.full_init()
        groups = OrderedDict()
        for idx in range(len(self.dataset)):
            info = self.dataset.get_data_info(idx)
            name = self._sequence_name(info)
            if self._wanted(name):
                groups.setdefault(name, []).append((frame_number(info['img_path']), idx, info['img_path']))
        src = getattr(self.dataset, 'split_file', type(self.dataset).__name__)
        if self.sequences is not None:
            missing = [s for s in self.sequences if not any(self._wanted_one(s, n) for n in groups)]
            if missing:
                raise ValueError(f'DepthFramePairDataset: sequences {missing} are not in {src!r}')
        pairs, meta, gaps = [], [], []
        for name, frames in groups.items():
            frames.sort()
            for (fa, ia, pa), (fb, ib, pb) in zip(frames, frames[1:]):
                if fa == fb:
                    raise ValueError(f'DepthFramePairDataset: frame {fa} of sequence {name!r} is listed '
                                     f'twice in {src!r} ({pa!r}, {pb!r})')
                if self.max_frame_gap is not None and fb - fa > self.max_frame_gap:
                    continue
                pairs.append((ia, ib))
                meta.append(dict(sequence=name, frame_index=(fa, fb)))
                gaps.append(fb - fa)
        if not pairs:
            raise ValueError(f'DepthFramePairDataset: no pair of consecutive frames in {src!r} '
                             f'({len(groups)} sequences, max_frame_gap={self.max_frame_gap}); list whole '
                             'sequences in the split file or raise max_frame_gap')
        self.pairs, self.pair_meta = pairs, meta
        MMLogger.get_current_instance().info(
            f'DepthFramePairDataset: {len(pairs)} frame pairs from {len(groups)} sequences of {src!r}; '
            f'frame gap min {min(gaps)}, median {int(np.median(gaps))}, max {max(gaps)} '
            f'(max_frame_gap={self.max_frame_gap})')
        self._fully_initialized = True

    @staticmethod
    def _wanted_one(wanted: str, name: str) -> bool:
        return wanted == name or wanted in name.split('/')

    def __len__(self) -> int:
        if not self._fully_initialized:
            self.full_init()
        return len(self.pairs)

    def get_data_info(self, idx: int) -> dict:
        """``dict(pair_id, sequence, frame_index, frames=[info_a, info_b])``."""
        if not self._fully_initialized:
            self.full_init()
        ia, ib = self.pairs[idx]
        return dict(pair_id=idx, **self.pair_meta[idx],
                    frames=[self.dataset.get_data_info(ia), self.dataset.get_data_info(ib)])

    def __getitem__(self, idx: int) -> list:
        if not self._fully_initialized:
            self.full_init()
        out = []
        meta = self.pair_meta[idx]
        for role, frame_idx in enumerate(self.pairs[idx]):
            data = self.dataset.prepare_data(frame_idx)
            if data is None:
                raise RuntimeError(f'DepthFramePairDataset: the pipeline dropped frame '
                                   f'{self.dataset.get_data_info(frame_idx).get("img_path")!r} of pair {idx}')
            extra = dict(pair_id=idx, pair_frame=role, sequence=meta['sequence'],
                         frame_index=meta['frame_index'][role])
            sample = data.get('data_samples') if isinstance(data, dict) else None
            if sample is not None and hasattr(sample, 'set_metainfo'):
                sample.set_metainfo(extra)
            else:
                data.update(extra)
            out.append(data)
        return out
