"""A user's own RGB-D folder, paired by file stem (docs/own_data.md)."""
import os
import os.path as osp
from typing import List, Optional, Sequence

from mmengine.dataset import BaseDataset
from mmseg.registry import DATASETS, TRANSFORMS

from .base_depth_dataset import resolve_split_file
from .samplers.per_sample_seed_sampler import seeded_rng, split_seeded_index

IMG_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff')
DEPTH_SUFFIXES = ('.png', '.npy')


def _by_stem(folder: str, suffixes: Sequence[str]) -> dict:
    """{relative path without suffix: file} under ``folder`` (recursive); two files of one stem are an error."""
    found = {}
    for dirpath, _, names in os.walk(folder):
        for name in sorted(names):
            stem, ext = osp.splitext(name)
            if ext.lower() not in suffixes:
                continue
            key = osp.relpath(osp.join(dirpath, stem), folder)
            path = osp.join(dirpath, name)
            if key in found:
                raise ValueError(f'two files share the stem {key!r}: {found[key]!r} and {path!r}')
            found[key] = path
    return found


@DATASETS.register_module()
class DepthFolderDataset(BaseDataset):
    """RGB images and depth maps in two folders, paired by their path without suffix (``a/001.jpg`` with
    ``a/001.png`` or ``a/001.npy``).

    Args:
        data_root (str): dataset root; ``img_dir`` / ``depth_dir`` / ``split_file`` / ``intrinsics_dir`` are
            relative to it (or absolute).
        img_dir, depth_dir (str): the two folders (searched recursively).
        depth_scale (float): 16-bit PNG units per metre (1000 = millimetres, 256 = KITTI); ``.npy`` maps are
            metres and ignore it.
        split_file (str, optional): one stem per line (``a/001``; a suffix is ignored): these samples, in
            this order. Without it, every pair, sorted.
        intrinsics (sequence of 4 floats, optional): global ``fx fy cx cy`` (px); ``focal`` = fx.
        intrinsics_dir (str, optional): per-image ``<stem>.txt`` with ``fx fy cx cy`` (overrides the global).
        min_depth, max_depth (float): the evaluation range (metainfo; ``DepthEvalMetric`` takes its own).
        **kwargs: :class:`mmengine.dataset.BaseDataset` (``pipeline``, ``test_mode``, ...).

    A depth map without its image, or an image without its depth map, is an error naming the file (a
    split file may select a subset: only its stems must have both). Samples carry ``img_path``,
    ``depth_map_path``, ``depth_scale``, ``focal``, ``intrinsics``, ``min_depth``, ``max_depth``, ``stem``.
    Load the depth with ``LoadFolderDepth``.
    """

    METAINFO: dict = dict(dataset_name='depth_folder')

    def __init__(self, data_root: str, img_dir: str = 'images', depth_dir: str = 'depths',
                 depth_scale: float = 1000.0, split_file: Optional[str] = None,
                 intrinsics: Optional[Sequence[float]] = None, intrinsics_dir: Optional[str] = None,
                 min_depth: float = 1e-3, max_depth: float = 10.0, **kwargs) -> None:
        if not depth_scale > 0:
            raise ValueError(f'DepthFolderDataset: depth_scale (PNG units per metre) must be > 0, got {depth_scale!r}')
        if intrinsics is not None and len(intrinsics) != 4:
            raise ValueError(f'DepthFolderDataset: intrinsics must be (fx, fy, cx, cy), got {intrinsics!r}')
        if not 0 <= min_depth < max_depth:
            raise ValueError(f'DepthFolderDataset: need 0 <= min_depth < max_depth, got {min_depth}, {max_depth}')
        root = osp.normpath(data_root) if data_root else ''
        self.img_dir = osp.join(root, img_dir)
        self.depth_dir = osp.join(root, depth_dir)
        self.intrinsics_dir = osp.join(root, intrinsics_dir) if intrinsics_dir else None
        self.depth_scale = float(depth_scale)
        self.intrinsics = None if intrinsics is None else [float(v) for v in intrinsics]
        self.min_depth, self.max_depth = float(min_depth), float(max_depth)
        self.split_file = resolve_split_file(split_file, root) if split_file else None
        kwargs['pipeline'] = [TRANSFORMS.build(t) if isinstance(t, dict) else t
                              for t in kwargs.get('pipeline') or []]
        super().__init__(data_root=root, **kwargs)

    def _read_intrinsics(self, stem: str) -> Optional[List[float]]:
        if self.intrinsics_dir is None:
            return self.intrinsics
        path = osp.join(self.intrinsics_dir, stem + '.txt')
        if not osp.isfile(path):
            if self.intrinsics is not None:
                return self.intrinsics
            raise FileNotFoundError(f'DepthFolderDataset: no intrinsics file {path!r} (and no global intrinsics)')
        values = open(path, encoding='utf-8').read().split()
        try:
            k = [float(v) for v in values]
        except ValueError:
            k = []
        if len(k) != 4:
            raise ValueError(f'{path}: expected 4 numbers "fx fy cx cy", got {values[:8]!r}')
        return k

    def load_data_list(self) -> List[dict]:
        for key, folder in (('img_dir', self.img_dir), ('depth_dir', self.depth_dir)):
            if not osp.isdir(folder):
                raise FileNotFoundError(f'DepthFolderDataset: {key} {folder!r} does not exist')
        imgs = _by_stem(self.img_dir, IMG_SUFFIXES)
        depths = _by_stem(self.depth_dir, DEPTH_SUFFIXES)
        if self.split_file:
            with open(self.split_file, encoding='utf-8') as f:
                rows = [(n, osp.splitext(ln.split()[0])[0] if osp.splitext(ln.split()[0])[1].lower() in
                         IMG_SUFFIXES + DEPTH_SUFFIXES else ln.split()[0])
                        for n, ln in enumerate(f, 1) if ln.strip()]
        else:
            rows = [(None, s) for s in sorted(set(imgs) | set(depths))]
        data_list = []
        for line, stem in rows:
            where = f' (split file {self.split_file!r}, line {line})' if line else ''
            if stem not in imgs:
                depth = depths.get(stem, osp.join(self.depth_dir, stem + '.*'))
                raise FileNotFoundError(f'DepthFolderDataset: depth map {depth!r} has no image {stem}.* in '
                                        f'{self.img_dir!r}{where}')
            if stem not in depths:
                raise FileNotFoundError(f'DepthFolderDataset: image {imgs[stem]!r} has no depth map {stem}.png or '
                                        f'{stem}.npy in {self.depth_dir!r}{where}')
            k = self._read_intrinsics(stem)
            data_list.append(dict(
                img_path=imgs[stem], depth_map_path=depths[stem], stem=stem, seg_fields=[],
                reduce_zero_label=False, depth_scale=self.depth_scale, focal=k[0] if k else None, intrinsics=k,
                min_depth=self.min_depth, max_depth=self.max_depth, split_file=self.split_file, split_line=line))
        if not data_list:
            raise ValueError(f'DepthFolderDataset: no image/depth pair under {self.img_dir!r} and {self.depth_dir!r}')
        return data_list

    def __getitem__(self, idx):
        """mmengine's ``__getitem__``; an ``(index, seed)`` item (``PerSampleSeedSampler``) runs the pipeline with
        the global random generators seeded by ``seed``."""
        idx, seed = split_seeded_index(idx)
        if seed is None:
            return super().__getitem__(idx)
        with seeded_rng(seed):
            return super().__getitem__(idx)
