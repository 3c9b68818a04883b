"""Random rotation for image + depth (docs/fidelity.md "Training": ±2.5° NYU, ±1° KITTI)."""
from mmseg.datasets.transforms import RandomRotate
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class RandomDepthRotate(RandomRotate):
    """mmseg's ``RandomRotate`` with depth-safe settings: bilinear image, NEAREST depth, zero fill.

    The angle is drawn from U(-degree, degree) (BTS/AdaBins: ``(random() - 0.5) * 2 * degree``),
    applied with probability ``prob`` (1.0: every sample, as in AdaBins), about the image centre,
    keeping the size. The image is interpolated bilinearly and padded with 0 (PIL's black fill);
    every ``seg_fields`` map (``gt_depth_map``) is interpolated with nearest neighbour and padded
    with 0 (invalid), so the output depth holds only input values or 0 — no invented depths.
    (mmseg's default ``seg_pad_val=255`` would write 255 m into the border; it is fixed to 0.)
    """

    def __init__(self, degree, prob: float = 1.0, pad_val: float = 0, center=None,
                 auto_bound: bool = False) -> None:
        super().__init__(prob=prob, degree=degree, pad_val=pad_val, seg_pad_val=0,
                         center=center, auto_bound=auto_bound)
