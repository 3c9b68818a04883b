"""Invalidate ground-truth depth outside a box, leaving the image whole (LLM-MDE NYU training, docs/llm_mde.md)."""
from typing import Sequence

from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

from ._utils import check_min_size

__all__ = ['DepthBorderMask']


@TRANSFORMS.register_module()
class DepthBorderMask(BaseTransform):
    """Set ``gt_depth_map`` to 0 (invalid) outside ``box = (left, top, right, bottom)`` (right/bottom exclusive).

    The LLM-MDE / BTS code at ``input_height == 480`` keeps the full NYU frame and zeroes the depth outside
    rows 45:472, columns 43:608 instead of cropping (``NYUBorderCrop`` crops both).
    """

    def __init__(self, box: Sequence[int] = (43, 45, 608, 472)) -> None:
        super().__init__()
        if len(box) != 4 or not (0 <= box[0] < box[2] and 0 <= box[1] < box[3]):
            raise ValueError(f'DepthBorderMask: box must be (left, top, right, bottom) with left < right and '
                             f'top < bottom, got {box!r}')
        self.box = tuple(int(v) for v in box)

    def transform(self, results: dict) -> dict:
        left, top, right, bottom = self.box
        check_min_size(results, (bottom, right), 'DepthBorderMask')
        depth = results['gt_depth_map'].copy()
        keep = depth[top:bottom, left:right].copy()
        depth[...] = 0
        depth[top:bottom, left:right] = keep
        results['gt_depth_map'] = depth
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(box={self.box})'
