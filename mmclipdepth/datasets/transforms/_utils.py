"""Helpers shared by the depth transforms (not registered)."""
from typing import Tuple

import numpy as np


def source_of(results: dict, key: str = 'img_path') -> str:
    """``'path' (split file 'x.txt', line N)`` for error messages."""
    path = results.get(key, '<unknown file>')
    where = ''
    if results.get('split_file') is not None or results.get('split_line') is not None:
        where = (f" (split file {results.get('split_file')!r}, "
                 f"line {results.get('split_line')})")
    return f'{path!r}{where}'


def crop_results(results: dict, top: int, left: int, height: int, width: int) -> None:
    """Crop ``img`` and every ``seg_fields`` map in place to rows ``top:top+height`` and columns
    ``left:left+width``; update ``img_shape``."""
    img = results['img']
    results['img'] = img[top:top + height, left:left + width, ...]
    for key in results.get('seg_fields', []):
        if results.get(key) is not None:
            results[key] = results[key][top:top + height, left:left + width, ...]
    results['img_shape'] = results['img'].shape[:2]


def check_min_size(results: dict, min_hw: Tuple[int, int], what: str) -> Tuple[int, int]:
    """Return the image (H, W); raise ValueError naming the file if smaller than ``min_hw``."""
    h, w = results['img'].shape[:2]
    if h < min_hw[0] or w < min_hw[1]:
        raise ValueError(f'{what} needs an image of at least {min_hw[0]}x{min_hw[1]} (HxW), got '
                         f'{h}x{w}: {source_of(results)}')
    for key in results.get('seg_fields', []):
        m = results.get(key)
        if isinstance(m, np.ndarray) and m.shape[:2] != (h, w):
            raise ValueError(f'{what}: {key} is {m.shape[0]}x{m.shape[1]} but the image is {h}x{w}: '
                             f'{source_of(results)}')
    return h, w
