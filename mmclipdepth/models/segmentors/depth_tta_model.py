"""mmengine test-time augmentation for depth: average the (already un-flipped) predictions of the views."""
from typing import List

from mmengine.model import BaseTTAModel
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from ..utils.depth_postprocess import average_views

__all__ = ['DepthTTAModel']


@MODELS.register_module()
class DepthTTAModel(BaseTTAModel):
    """``tta_model`` for mmseg's ``tools/test.py --tta``: the model predicts every view of ``tta_pipeline``
    (e.g. the image and its horizontal mirror); the estimator's postprocessing (``postprocess_depth``) flips
    each prediction back, and the views are averaged at full resolution (``average_views``, the averaging of
    ``flip_average``). Bilinear upsampling is linear and commutes with a horizontal flip, so this equals
    ``test_cfg.mode='whole_flip'`` (averaging at the head's resolution) up to float rounding. The merged sample
    keeps the ground truth and metainfo of the unflipped view (the flipped views' ground truth is mirrored)."""

    def merge_preds(self, data_samples_list: List[List[SegDataSample]]) -> List[SegDataSample]:
        merged = []
        for views in data_samples_list:
            ref = next((s for s in views if not s.metainfo.get('flip', False)), views[0])
            out = SegDataSample(metainfo=ref.metainfo)
            out.pred_depth_map = PixelData(data=average_views([s.pred_depth_map.data for s in views]))
            if 'gt_depth_map' in ref:
                out.gt_depth_map = ref.gt_depth_map
            merged.append(out)
        return merged
