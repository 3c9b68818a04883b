"""DepthCLIP's own evaluation protocol (its eval.py / calculate_error.py / datasets_list.py) as options, checked
by hand, and the two LLM-MDE faithful details (SILog variance clamp, prompt statistics dtype)."""
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from conftest import REPO, TINY_CLIP
from mmclipdepth.datasets.transforms import ImageOnlyCrop
from mmclipdepth.evaluation.metrics import DepthEvalMetric
from mmclipdepth.models.losses import SILogLoss
from mmclipdepth.models.utils import AdaptivePromptGenerator


def test_image_only_crop_keeps_ground_truth_frame():
    img = np.arange(480 * 640 * 3, dtype=np.uint8).reshape(480, 640, 3)
    gt = np.random.rand(480, 640).astype(np.float32)
    out = ImageOnlyCrop(box=(60, 56, 604, 472))(dict(img=img, gt_depth_map=gt, seg_fields=['gt_depth_map'],
                                                   img_path='x.jpg'))
    assert out['img'].shape == (416, 544, 3) and out['img_shape'] == (416, 544)
    assert np.array_equal(out['img'], img[56:472, 60:604])  # PIL box (left, top, right, bottom)
    assert out['gt_depth_map'] is gt and out['img_crop_box'] == (60, 56, 604, 472)
    with pytest.raises(ValueError, match=r'x\.jpg'):
        ImageOnlyCrop(box=(0, 0, 700, 100))(dict(img=img, img_path='x.jpg'))


def _sample(pred, gt, box=None):
    s = SegDataSample()
    meta = dict(img_path='f.jpg')
    if box is not None:
        meta['img_crop_box'] = box
    s.set_metainfo(meta)
    s.pred_depth_map = PixelData(data=torch.as_tensor(pred)[None])
    s.gt_depth_map = PixelData(data=torch.as_tensor(gt)[None])
    return s.to_dict()


def test_depthclip_metric_by_hand():
    """crop rows 45:471 cols 46:601, gt < 10 strictly, pred > 1e-3, only the pasted box: computed by hand."""
    gt = np.full((480, 640), 2.0)
    pred = np.zeros((480, 640))
    pred[56:472, 60:604] = 2.5  # the pasted prediction
    gt[100, 100] = 10.0  # excluded by the strict gt < 10 (the field's protocol keeps it)
    pred[200, 200] = 0.0005  # excluded by pred > 1e-3 (clamped to 1e-3 and kept by the field's protocol)
    m = DepthEvalMetric(crop='depthclip_nyu', max_inclusive=False, min_pred=1e-3)
    m.process({}, [_sample(pred, gt, (60, 56, 604, 472))])
    res = m.compute_metrics(m.results)
    # rows 56:471 (box from 56, crop to 471), cols 60:601, minus the two excluded pixels: all |2.5-2|/2
    assert res['abs_rel'] == pytest.approx(0.25, abs=1e-12)
    assert res['d1'] == 0.0 and res['d2'] == 1.0  # max(2.5/2, 2/2.5) = 1.25 is not < 1.25
    field = DepthEvalMetric(crop='eigen')
    field.process({}, [_sample(pred, gt)])
    res2 = field.compute_metrics(field.results)
    assert res2['abs_rel'] > 0.28  # the zero frame (clamped to 1e-3, abs_rel ~1) counts in the field's protocol


def test_depthclip_protocol_config_pastes_prediction_into_frame():
    cfg = Config.fromfile(f'{REPO}/configs/clipdepth/nyu_depthclip_zeroshot_protocol.py')
    cfg.model.clip = dict(TINY_CLIP)
    model = MODELS.build(cfg.model).eval()
    assert model.test_cfg.mode == 'whole_flip'
    s = SegDataSample()
    s.set_metainfo(dict(img_shape=(416, 544), ori_shape=(480, 640), pad_shape=(416, 544),
                        img_crop_box=(60, 56, 604, 472), img_path='f.jpg'))
    with torch.no_grad():
        out = model.predict(torch.randn(1, 3, 416, 544), [s])[0].pred_depth_map.data[0]
    assert out.shape == (480, 640)
    assert (out[:56] == 0).all() and (out[472:] == 0).all() and (out[:, :60] == 0).all() and (out[:, 604:] == 0).all()
    assert (out[56:472, 60:604] >= 1.0).all()  # DepthCLIP's bins are 1..3 m


def test_silog_variance_clamp_of_llm_mde():
    pred = torch.full((1, 1, 2, 2), 2.0)
    gt = torch.full((1, 1, 2, 2), 1.0)  # g constant: variance term 0.15 * log(2)^2 with lambda 0.85
    g = np.log(2.0)
    assert SILogLoss()(pred, gt).item() == pytest.approx(10 * np.sqrt(0.15 * g * g), rel=1e-6)
    same = torch.ones(1, 1, 2, 2)  # perfect prediction: variance 0
    assert SILogLoss()(same, same).item() == 0.0
    assert SILogLoss(variance_eps=1e-6)(same, same).item() == pytest.approx(10 * 1e-3, rel=1e-6)
    with pytest.raises(ValueError, match='variance_eps'):
        SILogLoss(variance_eps=-1)


def test_prompt_statistics_dtype_option():
    """'input' keeps the images' dtype (the authors' code); 'float32' casts first. Columns 0 and 1 hold
    1 + 1e-8 and 1 + 3e-8: distinct in float64 (the maximum is in column 1), equal in float32 (a tie: the first
    index, column 0, wins)."""
    x = torch.full((1, 3, 4, 4), 0.5, dtype=torch.float64)
    x[..., 0] = 1 + 1e-8
    x[..., 1] = 1 + 3e-8
    a = AdaptivePromptGenerator(input_size=None, stats_dtype='input')(x)[0]
    b = AdaptivePromptGenerator(input_size=None, stats_dtype='float32')(x)[0]
    assert 'max value on the x axis 1,' in a and 'max value on the x axis 0,' in b
    with pytest.raises(ValueError, match='stats_dtype'):
        AdaptivePromptGenerator(stats_dtype='half')
