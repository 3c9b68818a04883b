"""NYU train-time border crop (docs/fidelity.md "Training"; BTS/AdaBins ``crop((43, 45, 608, 472))``)."""
from typing import Sequence

from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

from ._utils import check_min_size, crop_results


@TRANSFORMS.register_module()
class NYUBorderCrop(BaseTransform):
    """Crop the image and every ``seg_fields`` map (``gt_depth_map``) to a fixed box.

    ``box = (left, top, right, bottom)`` in PIL's convention (right/bottom exclusive): the default
    (43, 45, 608, 472) keeps rows 45:472 and columns 43:608 of a 480x640 NYU frame (427x565),
    removing the white undistortion border and unregistered depth. Raises ``ValueError`` (naming the
    file and split-file line) if the image is smaller than the box.
    """

    def __init__(self, box: Sequence[int] = (43, 45, 608, 472)) -> None:
        super().__init__()
        if len(box) != 4 or not (0 <= box[0] < box[2] and 0 <= box[1] < box[3]):
            raise ValueError(f'box must be (left, top, right, bottom) with left < right and '
                             f'top < bottom, got {box!r}')
        self.box = tuple(int(v) for v in box)

    def transform(self, results: dict) -> dict:
        left, top, right, bottom = self.box
        check_min_size(results, (bottom, right), 'NYUBorderCrop')
        crop_results(results, top, left, bottom - top, right - left)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(box={self.box})'
