"""KITTI benchmark (KB) crop to 352x1216 (docs/fidelity.md; BTS/AdaBins ``do_kb_crop``)."""
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

from ._utils import check_min_size, crop_results


@TRANSFORMS.register_module()
class KBCrop(BaseTransform):
    """Crop the image and every ``seg_fields`` map to the bottom-centre ``height x width`` box.

    ``top = H - height``, ``left = (W - width) // 2`` (BTS/AdaBins: ``int(height - 352)``,
    ``int((width - 1216) / 2)``); a 375x1242 KITTI frame keeps rows 23:375 and columns 13:1229.
    Used at train and test time. ``results['kb_crop'] = (top, left)`` records the offset.

    With ``update_ori_shape=True`` (default) ``ori_shape`` becomes the cropped shape: the KB crop is
    the evaluation frame of the protocol (the metric's Garg crop is taken as fractions of it), so
    the estimator must return its prediction at this size, not at the raw 375x1242.
    Raises ``ValueError`` (naming the file and split-file line) if the image is too small.
    """

    def __init__(self, height: int = 352, width: int = 1216, update_ori_shape: bool = True) -> None:
        super().__init__()
        if height <= 0 or width <= 0:
            raise ValueError(f'height and width must be positive, got {height}x{width}')
        self.height = int(height)
        self.width = int(width)
        self.update_ori_shape = update_ori_shape

    def transform(self, results: dict) -> dict:
        h, w = check_min_size(results, (self.height, self.width), 'KBCrop')
        top = h - self.height
        left = (w - self.width) // 2
        crop_results(results, top, left, self.height, self.width)
        results['kb_crop'] = (top, left)
        if self.update_ori_shape:
            results['ori_shape'] = results['img'].shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(height={self.height}, width={self.width}, '
                f'update_ori_shape={self.update_ori_shape})')
