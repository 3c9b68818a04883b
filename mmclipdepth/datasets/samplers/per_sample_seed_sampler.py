"""mmengine's ``DefaultSampler`` whose indices carry a per-sample augmentation seed.

Random augmentation normally draws from the global (or each data-loader worker's) random streams, so what a
sample gets depends on everything drawn before it: a resumed run, another ``num_workers`` or another number
of processes sees other crops and flips. Here every index is yielded as ``(index, seed)`` with
``seed = f(sampler seed, epoch, index)``, and the package's datasets run the pipeline of that sample with
Python's ``random``, numpy's and torch's global generators seeded by it (restored afterwards). A sample's
augmentation then depends only on (seed, epoch, index): identical after ``--resume`` at any iteration, with
any ``num_workers`` (persistent or not) and for N processes x batch b as for one process x batch N*b.
"""
import contextlib
import random
from typing import Iterator, Tuple

import numpy as np
import torch
from mmengine.dataset import DefaultSampler
from mmseg.registry import DATA_SAMPLERS

__all__ = ['PerSampleSeedSampler', 'sample_seed', 'seeded_rng', 'split_seeded_index']


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A 32-bit seed from (sampler seed, epoch, dataset index) (numpy ``SeedSequence`` hashing)."""
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(epoch), int(index)]).generate_state(1)[0])


@contextlib.contextmanager
def seeded_rng(seed: int):
    """Seed Python's, numpy's and torch's global CPU generators for the block; restore their states after.
    (``torch.default_generator`` only: ``torch.manual_seed`` would also reseed - and not restore - CUDA's.)"""
    py, npy, th = random.getstate(), np.random.get_state(), torch.get_rng_state()
    random.seed(seed)
    np.random.seed(seed)
    torch.default_generator.manual_seed(seed)
    try:
        yield
    finally:
        random.setstate(py)
        np.random.set_state(npy)
        torch.set_rng_state(th)


def split_seeded_index(idx) -> Tuple[int, object]:
    """``(index, seed)`` from a sampler item (``seed`` is None for a plain integer index)."""
    if isinstance(idx, (tuple, list)) and len(idx) == 2:
        return int(idx[0]), idx[1]
    return idx, None


@DATA_SAMPLERS.register_module()
class PerSampleSeedSampler(DefaultSampler):
    """``DefaultSampler`` (same order, same rank split) yielding ``(index, sample_seed(seed, epoch, index))``.

    Needs a dataset that understands such items (the package's depth datasets and their wrappers do)."""

    def __iter__(self) -> Iterator:
        for idx in super().__iter__():
            yield int(idx), sample_seed(self.seed, self.epoch, int(idx))
