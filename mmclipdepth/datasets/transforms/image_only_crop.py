"""Crop the image alone to a fixed box; the ground truth keeps its full frame (DepthCLIP's NYU test input)."""
from typing import Sequence

from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

from ._utils import check_min_size, source_of


@TRANSFORMS.register_module()
class ImageOnlyCrop(BaseTransform):
    """Crop ``img`` to ``box = (left, top, right, bottom)`` (PIL convention); leave ``gt_depth_map`` whole.

    DepthCLIP's NYU evaluation (``datasets/datasets_list.py``: ``rgb.crop((40+20, 42+14, 616-12, 474-2))``)
    feeds the 416x544 centre of the 480x640 frame, i.e. ``box=(60, 56, 604, 472)``, and compares the prediction
    pasted back at that place in the full GT frame (``calculate_error.py``, ``compute_errors_NYU``). The box is
    recorded as ``img_crop_box``; ``postprocess_depth`` then pastes the prediction into the ``ori_shape``
    frame instead of resizing it, and ``DepthEvalMetric`` never counts the pixels outside the box (add
    ``'img_crop_box'`` to ``PackSegInputs``' ``meta_keys``). Raises ``ValueError`` naming the file when the image
    is smaller than the box.
    """

    def __init__(self, box: Sequence[int] = (60, 56, 604, 472)) -> None:
        super().__init__()
        if len(box) != 4 or not (0 <= box[0] < box[2] and 0 <= box[1] < box[3]):
            raise ValueError(f'ImageOnlyCrop: box must be (left, top, right, bottom) with left < right and '
                             f'top < bottom, got {box!r}')
        self.box = tuple(int(v) for v in box)

    def transform(self, results: dict) -> dict:
        left, top, right, bottom = self.box
        check_min_size(results, (bottom, right), 'ImageOnlyCrop')
        if 'img_crop_box' in results:
            raise ValueError(f'ImageOnlyCrop applied twice: {source_of(results)}')
        results['img'] = results['img'][top:bottom, left:right, ...]
        results['img_shape'] = results['img'].shape[:2]
        results['img_crop_box'] = self.box
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(box={self.box})'
