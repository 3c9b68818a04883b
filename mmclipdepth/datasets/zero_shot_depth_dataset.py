"""Base of the zero-shot test sets: files found in the release's own layout, or listed in a split file.

Not registered itself; each dataset (``SUNRGBDDataset``, ``IBims1Dataset``, ``DIODEDataset``, ...) says where
its release keeps the images and the depth maps and how the depth is encoded (``depth_format``, decoded by
``LoadReleaseDepth``). docs/zero_shot.md lists the layouts, encodings and evaluation protocols.
"""
import glob
import os.path as osp
from typing import List, Optional, Tuple

from mmengine.dataset import BaseDataset
from mmseg.registry import TRANSFORMS

from .base_depth_dataset import entry_inside, resolve_split_file

__all__ = ['ZeroShotDepthDataset']


class ZeroShotDepthDataset(BaseDataset):
    """Test-set dataset read from a dataset release.

    Args:
        data_root (str): the release's root folder (docs/zero_shot.md); must exist.
        split_file (str, optional): a list of RGB paths relative to ``data_root``, one per line (a second
            column, when present, is the depth path); default: every RGB file of the release layout
            (``PATTERN``), sorted.
        **kwargs: :class:`mmengine.dataset.BaseDataset` arguments (``pipeline``, ``test_mode``, ...).

    Every sample has ``img_path``, ``depth_map_path``, ``depth_format``, ``focal`` (px, None when unknown),
    ``dataset`` and whatever :meth:`extras` adds (mask paths, intrinsics). A missing root, a release with no
    file of the expected layout, and a listed image whose depth file is missing are errors that name the
    path and the layout.
    """
    #: glob (relative to data_root) of the RGB files of the release
    PATTERN: str = ''
    #: the layout, for messages
    LAYOUT: str = ''
    DEPTH_FORMAT: str = ''
    NAME: str = ''

    def __init__(self, data_root: str = '', split_file: Optional[str] = None, **kwargs):
        if 'ann_file' in kwargs:
            raise TypeError(f'{type(self).__name__} takes split_file=, not ann_file=')
        self.split_file = split_file
        kwargs['pipeline'] = [TRANSFORMS.build(t) if isinstance(t, dict) else t
                              for t in kwargs.get('pipeline') or []]
        kwargs.setdefault('test_mode', True)
        super().__init__(ann_file='', data_root=osp.normpath(data_root) if data_root else '', **kwargs)

    # ------------------------------------------------------------------ for subclasses
    def depth_path_of(self, rgb: str) -> str:
        """The depth file (relative to data_root) of an RGB file of the release."""
        raise NotImplementedError

    def extras(self, rgb: str) -> dict:
        """Per-sample extras (mask paths, intrinsics, focal)."""
        return {}

    def pattern(self) -> str:
        return self.PATTERN

    # ------------------------------------------------------------------ loading
    def _pairs(self) -> List[Tuple[str, str, int]]:
        if self.split_file is None:
            found = sorted(glob.glob(osp.join(self.data_root, self.pattern()), recursive=True))
            if not found:
                raise FileNotFoundError(
                    f'{type(self).__name__}: no image matches {self.pattern()!r} under {self.data_root!r}; '
                    f'expected the release layout {self.LAYOUT} (docs/zero_shot.md)')
            return [(osp.relpath(f, self.data_root), None, 0) for f in found]
        path = resolve_split_file(self.split_file, self.data_root)
        pairs = []
        with open(path, encoding='utf-8') as f:
            for n, line in enumerate(f, 1):
                cols = line.split()
                if not cols:
                    continue
                if len(cols) > 2:
                    raise ValueError(f'malformed split file {path!r}, line {n}: expected "RGB_PATH [DEPTH_PATH]", '
                                     f'got {len(cols)} columns: {line.strip()!r}')
                where = f' ({path!r}, line {n})'
                pairs.append((entry_inside(cols[0], where), entry_inside(cols[1], where) if len(cols) == 2 else None,
                              n))
        if not pairs:
            raise ValueError(f'{type(self).__name__}: split file {path!r} lists no image')
        self.split_file = path
        return pairs

    def load_data_list(self) -> List[dict]:
        if not self.data_root or not osp.isdir(self.data_root):
            raise FileNotFoundError(f'{type(self).__name__}: data_root {self.data_root!r} does not exist (expected '
                                    f'the release layout {self.LAYOUT}, docs/zero_shot.md)')
        out = []
        # every list a release reads (a split file, Hypersim's CSV, iBims' imagelist.txt) names paths inside
        # data_root, all checked before any file is opened; a depth path derived from an inside RGB path stays
        # inside (or under the operator's depth_root)
        pairs = [(entry_inside(rgb, f' (split file {self.split_file!r}, line {line})' if line else ''), depth, line)
                 for rgb, depth, line in self._pairs()]
        for rgb, depth, line in pairs:
            where = f' (split file {self.split_file!r}, line {line})' if line else ''
            depth = depth or self.depth_path_of(rgb)
            img_path, depth_path = osp.join(self.data_root, rgb), osp.join(self.data_root, depth)
            for kind, p in (('image', img_path), ('depth map', depth_path)):
                if not osp.isfile(p):
                    raise FileNotFoundError(f'{type(self).__name__}: {kind} {p!r} does not exist{where}; expected '
                                            f'the release layout {self.LAYOUT}')
            info = dict(img_path=img_path, depth_map_path=depth_path, depth_format=self.DEPTH_FORMAT, focal=None,
                        dataset=self.NAME, seg_fields=[], reduce_zero_label=False, split_line=line)
            extra = self.extras(rgb)
            for key, p in extra.get('mask_paths', {}).items():
                if not osp.isfile(p):
                    raise FileNotFoundError(f'{type(self).__name__}: {key} mask {p!r} of {img_path!r} does not exist; '
                                            f'expected the release layout {self.LAYOUT}')
            info.update(extra)
            out.append(info)
        return out
