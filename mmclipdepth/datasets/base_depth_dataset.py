"""Shared split-file reader for the BTS/AdaBins depth datasets (docs/fidelity.md, docs/data_preparation.md).

Not registered itself: :class:`NYUDepthV2Dataset` and :class:`KITTIEigenDataset` subclass it.
"""
import os.path as osp
from typing import Dict, List, Optional, Tuple

from mmengine.dataset import BaseDataset
from mmengine.logging import MMLogger
from mmseg.registry import TRANSFORMS

from .samplers.per_sample_seed_sampler import seeded_rng, split_seeded_index

#: Folder holding the split files that ship with the package.
SPLITS_DIR = osp.join(osp.dirname(osp.abspath(__file__)), 'splits')


def entry_inside(entry: str, where: str) -> str:
    """A split-file path entry, refused (``ValueError`` naming it and ``where``) when it leaves the folder it is
    relative to: ``../../etc/passwd`` in a list from elsewhere would read files outside ``data_root``."""
    rel = osp.normpath(entry.lstrip('/'))
    if rel == '..' or rel.startswith('..' + osp.sep) or osp.isabs(rel):
        raise ValueError(f'split file entry {entry!r}{where} points outside data_root: entries are paths inside '
                         'the dataset folder')
    return entry.lstrip('/')


def resolve_split_file(split_file: str, data_root: Optional[str] = None) -> str:
    """Return the absolute path of ``split_file``.

    Tried in this order: an absolute path; a path relative to ``data_root``; a name inside the
    shipped ``mmclipdepth/datasets/splits/`` folder; a path relative to the working directory.

    Raises:
        FileNotFoundError: none of the candidates exists (the message lists all of them).
    """
    if not isinstance(split_file, str) or not split_file:
        raise ValueError(f'split_file must be a non-empty string, got {split_file!r}')
    if osp.isabs(split_file):
        candidates = [split_file]
    else:
        candidates = []
        if data_root:
            candidates.append(osp.join(data_root, split_file))
        candidates.append(osp.join(SPLITS_DIR, split_file))
        candidates.append(osp.abspath(split_file))
    for cand in candidates:
        if osp.isfile(cand):
            return osp.abspath(cand)
    raise FileNotFoundError(
        f'split file {split_file!r} not found; looked for: ' + ', '.join(repr(c) for c in candidates))


class BaseDepthSplitDataset(BaseDataset):
    """Depth dataset listed by a BTS-style split file: ``RGB GT [FOCAL]`` per line.

    Each line is whitespace-separated: RGB path, ground-truth depth path (``None`` = no ground truth:
    the line is skipped and counted in the log), and optionally the focal length in pixels (a third
    column that is not a number, e.g. DepthCLIP's dense-GT path, falls back to the dataset's focal).
    A leading ``/`` is stripped from both paths. Blank lines are ignored.

    Args:
        split (str): a key of ``SPLITS`` (e.g. ``'train'``, ``'test'``). It chooses the default split
            file and the default sub-folders of ``data_root``.
        split_file (str, optional): overrides the split's list: an absolute path, a path relative to
            ``data_root``, or a name in the shipped splits folder (``resolve_split_file``).
        data_root (str): dataset root. Must exist (checked when the list is loaded).
        data_prefix (dict, optional): ``dict(img_path=..., depth_map_path=...)``: folders the split
            paths are relative to; relative folders are joined to ``data_root``. Defaults to the
            split's layout (``SPLITS``).
        **kwargs: passed to :class:`mmengine.dataset.BaseDataset` (``pipeline``, ``test_mode``,
            ``indices``, ``serialize_data``, ``lazy_init``, ``metainfo``...).

    Every sample dict has ``img_path``, ``depth_map_path``, ``seg_fields=[]``,
    ``reduce_zero_label=False``, ``focal``, ``depth_scale``, ``split_file`` and ``split_line``
    (1-based), plus what :meth:`parse_paths` adds.
    """

    #: split name -> (split file name in the shipped splits folder, img prefix, depth prefix)
    SPLITS: Dict[str, Tuple[str, str, str]] = {}
    METAINFO: dict = dict()

    def __init__(self,
                 split: Optional[str] = 'test',
                 split_file: Optional[str] = None,
                 data_root: Optional[str] = '',
                 data_prefix: Optional[dict] = None,
                 **kwargs) -> None:
        if 'ann_file' in kwargs:
            raise TypeError(f'{type(self).__name__} takes split= / split_file=, not ann_file=')
        if split is not None and split not in self.SPLITS:
            raise ValueError(f'{type(self).__name__}: unknown split {split!r}; expected one of '
                             f'{sorted(self.SPLITS)} (or split=None with an explicit split_file)')
        if split is None and split_file is None:
            raise ValueError(f'{type(self).__name__}: give split= or split_file=')
        self.split = split
        data_root = osp.normpath(data_root) if data_root else ''
        if split_file is None:
            split_file = self.SPLITS[split][0]
        if data_prefix is None:
            if split is not None:
                _, img_prefix, depth_prefix = self.SPLITS[split]
            else:
                img_prefix = depth_prefix = ''
            data_prefix = dict(img_path=img_prefix, depth_map_path=depth_prefix)
        else:
            data_prefix = dict(data_prefix)
            unknown = set(data_prefix) - {'img_path', 'depth_map_path'}
            if unknown or 'img_path' not in data_prefix:
                raise ValueError(f'{type(self).__name__}: data_prefix needs keys img_path and '
                                 f'depth_map_path, got {sorted(data_prefix)}')
            data_prefix.setdefault('depth_map_path', data_prefix['img_path'])
        self.split_file = resolve_split_file(split_file, data_root)
        self.num_skipped_no_gt = 0
        # Build transform dicts with mmseg's registry so the dataset also works outside a Runner
        # (no default scope set); callables pass through.
        kwargs['pipeline'] = [TRANSFORMS.build(t) if isinstance(t, dict) else t
                              for t in kwargs.get('pipeline') or []]
        super().__init__(ann_file=self.split_file, data_root=data_root, data_prefix=data_prefix,
                         **kwargs)

    # ------------------------------------------------------------------ hooks for subclasses
    def parse_paths(self, rgb: str, gt: str, line_no: int) -> dict:
        """Extra per-sample metainfo from the two relative paths (subclasses override)."""
        return {}

    def default_focal(self, rgb: str) -> Optional[float]:
        """Focal length (px) for lines without a numeric third column."""
        return self._metainfo.get('focal')

    # ------------------------------------------------------------------ loading
    def _check_dirs(self) -> None:
        if self.data_root and not osp.isdir(self.data_root):
            raise FileNotFoundError(f'{type(self).__name__}: data_root {self.data_root!r} does not '
                                    f'exist (see docs/data_preparation.md for the expected tree)')
        for key in ('img_path', 'depth_map_path'):
            folder = self.data_prefix[key]
            if folder and not osp.isdir(folder):
                raise FileNotFoundError(
                    f'{type(self).__name__}: folder {folder!r} (data_prefix[{key!r}], split '
                    f'{self.split!r}) does not exist under data_root {self.data_root!r}')

    def read_split_lines(self) -> List[Tuple[int, List[str]]]:
        """(line number, columns) for every non-blank line; raises on malformed lines."""
        with open(self.split_file, encoding='utf-8') as f:
            text = f.read()
        rows = []
        for line_no, line in enumerate(text.splitlines(), start=1):
            cols = line.split()
            if not cols:
                continue
            if len(cols) not in (2, 3):
                raise ValueError(
                    f'malformed split file {self.split_file!r}, line {line_no}: expected '
                    f'"RGB_PATH DEPTH_PATH [FOCAL]" (2 or 3 columns), got {len(cols)}: {line!r}')
            if cols[0] == 'None':
                raise ValueError(f'malformed split file {self.split_file!r}, line {line_no}: '
                                 f'the RGB path is None: {line!r}')
            rows.append((line_no, cols))
        return rows

    def load_data_list(self) -> List[dict]:
        self._check_dirs()
        rows = self.read_split_lines()
        img_dir = self.data_prefix['img_path']
        depth_dir = self.data_prefix['depth_map_path']
        depth_scale = self._metainfo.get('depth_scale')
        data_list = []
        skipped = 0
        for line_no, cols in rows:
            where = f' ({self.split_file!r}, line {line_no})'
            rgb = entry_inside(cols[0], where)
            gt = entry_inside(cols[1], where) if cols[1] != 'None' else cols[1]
            if cols[1] == 'None':
                skipped += 1
                continue
            focal = None
            if len(cols) == 3:
                try:
                    focal = float(cols[2])
                except ValueError:
                    focal = None  # e.g. DepthCLIP's KITTI list: third column is a dense-GT path
            if focal is None:
                focal = self.default_focal(rgb)
            info = dict(
                img_path=osp.join(img_dir, rgb),
                depth_map_path=osp.join(depth_dir, gt),
                seg_fields=[],
                reduce_zero_label=False,
                focal=focal,
                depth_scale=depth_scale,
                split_file=self.split_file,
                split_line=line_no)
            info.update(self.parse_paths(rgb, gt, line_no))
            data_list.append(info)
        self.num_skipped_no_gt = skipped
        if skipped:
            MMLogger.get_current_instance().info(
                f'{type(self).__name__}: skipped {skipped} of {len(rows)} lines of '
                f'{self.split_file!r} whose ground truth is None ({len(data_list)} samples kept)')
        if not data_list:
            raise ValueError(f'{type(self).__name__}: split file {self.split_file!r} lists no '
                             f'sample with ground truth ({len(rows)} non-blank lines)')
        return data_list

    def __getitem__(self, idx):
        """mmengine's ``__getitem__``; an ``(index, seed)`` item (``PerSampleSeedSampler``) runs the pipeline
        with the global random generators seeded by ``seed`` (restored afterwards)."""
        idx, seed = split_seeded_index(idx)
        if seed is None:
            return super().__getitem__(idx)
        with seeded_rng(seed):
            return super().__getitem__(idx)
