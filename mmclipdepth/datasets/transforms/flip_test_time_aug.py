"""The image and its horizontal mirror as two test-time views (``tta_pipeline`` for ``tools/test.py --tta``)."""
from typing import Sequence

from mmcv.transforms import TestTimeAug
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class FlipTestTimeAug(TestTimeAug):
    """mmcv's ``TestTimeAug`` with the two views of flip TTA (``RandomFlip`` with prob 0 and 1), each packed by
    ``PackSegInputs(meta_keys)``. ``DepthTTAModel`` averages the views; the estimator flips the mirrored
    prediction back (metainfo ``flip``)."""

    def __init__(self, meta_keys: Sequence[str]):
        super().__init__(transforms=[[dict(type='RandomFlip', prob=0.0, direction='horizontal'),
                                      dict(type='RandomFlip', prob=1.0, direction='horizontal')],
                                     [dict(type='PackSegInputs', meta_keys=tuple(meta_keys))]])
