"""DepthEvalMetric against an independent numpy implementation of the BTS/AdaBins protocol
(docs/fidelity.md "Evaluation")."""
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.structures import PixelData
from PIL import Image

import mmclipdepth  # noqa: F401
from mmclipdepth.evaluation.metrics import DepthEvalMetric
from mmclipdepth.evaluation.metrics.depth_eval_metric import eval_crop_box
from mmseg.structures import SegDataSample

DATA = Path(__file__).resolve().parent / 'data'
NYU_SCENE = DATA / 'nyu' / 'sync' / 'basement_0001a'
KITTI_GT = (DATA / 'kitti' / 'data_depth_annotated' / '2011_09_26_drive_0001_sync' /
            'proj_depth' / 'groundtruth' / 'image_02')
KEYS = ('d1', 'd2', 'd3', 'abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'log10', 'silog',
        'rmse_log_unrooted')


# ------------------------------------------------------------------ independent reference
def ref_compute_errors(gt, pred):
    """AdaBins ``utils.compute_errors`` (+ the un-rooted log RMSE), written out again."""
    thresh = np.maximum((gt / pred), (pred / gt))
    a1 = (thresh < 1.25).mean()
    a2 = (thresh < 1.25 ** 2).mean()
    a3 = (thresh < 1.25 ** 3).mean()
    abs_rel = np.mean(np.abs(gt - pred) / gt)
    sq_rel = np.mean(((gt - pred) ** 2) / gt)
    rmse = np.sqrt(((gt - pred) ** 2).mean())
    rmse_log_sq = ((np.log(gt) - np.log(pred)) ** 2).mean()
    err = np.log(pred) - np.log(gt)
    silog = np.sqrt(np.mean(err ** 2) - np.mean(err) ** 2) * 100
    log_10 = (np.abs(np.log10(gt) - np.log10(pred))).mean()
    return dict(d1=a1, d2=a2, d3=a3, abs_rel=abs_rel, sq_rel=sq_rel, rmse=rmse,
                rmse_log=np.sqrt(rmse_log_sq), log10=log_10, silog=silog,
                rmse_log_unrooted=rmse_log_sq)


def ref_evaluate(pairs, min_depth, max_depth, crop):
    """AdaBins ``evaluate.py`` per image (clamp order, valid mask, crops), mean over images."""
    per_image = []
    for gt, pred in pairs:
        gt = gt.astype(np.float64)
        pred = pred.astype(np.float64).copy()
        pred[pred < min_depth] = min_depth
        pred[pred > max_depth] = max_depth
        pred[np.isinf(pred)] = max_depth
        pred[np.isnan(pred)] = min_depth
        valid_mask = np.logical_and(gt > min_depth, gt <= max_depth)
        gt_height, gt_width = gt.shape
        eval_mask = np.zeros(valid_mask.shape)
        if crop == 'eigen':
            eval_mask[45:471, 41:601] = 1
        elif crop == 'garg':
            eval_mask[int(0.40810811 * gt_height):int(0.99189189 * gt_height),
                      int(0.03594771 * gt_width):int(0.96405229 * gt_width)] = 1
        elif crop == 'eigen_kitti':
            eval_mask[int(0.3324324 * gt_height):int(0.91351351 * gt_height),
                      int(0.0359477 * gt_width):int(0.96405229 * gt_width)] = 1
        else:
            eval_mask[:] = 1
        valid_mask = np.logical_and(valid_mask, eval_mask)
        per_image.append(ref_compute_errors(gt[valid_mask], pred[valid_mask]))
    return {k: np.mean([m[k] for m in per_image]) for k in KEYS}


# ----------------------------------------------------------------------------- helpers
def perturb(gt, seed, max_depth):
    """A plausible bad prediction: gt * lognormal noise, smooth fill where gt is 0, and a few
    NaN / +inf / -inf / out-of-range values."""
    rng = np.random.default_rng(seed)
    h, w = gt.shape
    fill = np.linspace(0.5, max_depth * 0.8, w, dtype=np.float32)[None, :].repeat(h, 0)
    pred = np.where(gt > 0, gt * np.exp(rng.normal(0.05, 0.2, gt.shape)), fill)
    idx = rng.choice(h * w, 40, replace=False)
    flat = pred.reshape(-1)
    flat[idx[:8]] = np.nan
    flat[idx[8:16]] = np.inf
    flat[idx[16:24]] = -np.inf
    flat[idx[24:32]] = max_depth * 3
    flat[idx[32:40]] = -1.0
    return pred.astype(np.float32)


def sample(pred, gt, name='img.png'):
    ds = SegDataSample(metainfo=dict(img_path=name))
    ds.pred_depth_map = PixelData(data=torch.from_numpy(np.asarray(pred, np.float32))[None])
    ds.gt_depth_map = PixelData(data=torch.from_numpy(np.asarray(gt, np.float32))[None])
    return ds


def nyu_pairs():
    pairs = []
    for i, idx in enumerate(['00000', '00050', '00100']):
        raw = np.array(Image.open(NYU_SCENE / f'sync_depth_{idx}.png'))
        gt = raw.astype(np.float32) / np.float32(1000)
        pairs.append((gt, perturb(gt, i, 10.0)))
    return pairs


def kitti_pairs():
    pairs = []
    for i, idx in enumerate(['0000000005', '0000000050', '0000000100']):
        raw = np.array(Image.open(KITTI_GT / f'{idx}.png'))
        h, w = raw.shape
        top, left = h - 352, (w - 1216) // 2  # KB crop, done here independently
        gt = raw[top:top + 352, left:left + 1216].astype(np.float32) / np.float32(256)
        pairs.append((gt, perturb(gt, 10 + i, 80.0)))
    return pairs


def run_metric(metric, pairs, as_dict=True):
    samples = [sample(p, g, f'img{i}.png') for i, (g, p) in enumerate(pairs)]
    metric.process({}, [s.to_dict() if as_dict else s for s in samples])
    return metric.compute_metrics(metric.results)


# ------------------------------------------------------------------------- the numbers
@pytest.mark.parametrize('which,crop,max_depth', [
    ('nyu', 'eigen', 10.0), ('nyu', 'none', 10.0), ('kitti', 'garg', 80.0),
    ('kitti', 'eigen_kitti', 80.0)])
def test_matches_adabins_formulas_on_real_samples(which, crop, max_depth):
    pairs = nyu_pairs() if which == 'nyu' else kitti_pairs()
    expected = ref_evaluate(pairs, 1e-3, max_depth, crop)
    got = run_metric(DepthEvalMetric(min_depth=1e-3, max_depth=max_depth, crop=crop), pairs)
    assert set(got) == set(KEYS) | {'nonfinite_pred'}  # + the share of NaN/inf predictions
    for k in KEYS:
        assert abs(got[k] - expected[k]) <= 1e-6, (k, got[k], expected[k])
    # sanity: the perturbation gives non-trivial errors
    assert 0.05 < got['abs_rel'] < 1 and 0 < got['d1'] < 1 and got['silog'] > 5


def test_data_elements_and_dicts_agree():
    pairs = nyu_pairs()[:2]
    a = run_metric(DepthEvalMetric(crop='eigen'), pairs, as_dict=True)
    b = run_metric(DepthEvalMetric(crop='eigen'), pairs, as_dict=False)
    assert a == b


def test_hand_computed_single_pixel():
    gt = np.zeros((480, 640), np.float32)
    pred = np.ones((480, 640), np.float32)
    gt[100, 100], pred[100, 100] = 2.0, 2.5
    m = run_metric(DepthEvalMetric(crop='eigen'), [(gt, pred)])
    assert m['abs_rel'] == pytest.approx(0.25)
    assert m['sq_rel'] == pytest.approx(0.25 / 2)
    assert m['rmse'] == pytest.approx(0.5)
    assert m['rmse_log'] == pytest.approx(np.log(1.25))
    assert m['rmse_log_unrooted'] == pytest.approx(np.log(1.25) ** 2)
    assert m['log10'] == pytest.approx(np.log10(1.25))
    assert m['silog'] == pytest.approx(0.0, abs=1e-6)  # one pixel: no variance
    assert (m['d1'], m['d2'], m['d3']) == (0.0, 1.0, 1.0)  # ratio 1.25 is not < 1.25


def test_silog_is_100_sqrt_variance():
    gt = np.zeros((480, 640), np.float32)
    pred = np.zeros((480, 640), np.float32)
    gt[200, 200:204] = 1.0
    pred[200, 200:204] = np.exp([0.1, -0.1, 0.3, -0.3])
    m = run_metric(DepthEvalMetric(crop='eigen'), [(gt, pred)])
    d = np.array([0.1, -0.1, 0.3, -0.3])
    assert m['silog'] == pytest.approx(100 * np.sqrt(np.mean(d ** 2) - np.mean(d) ** 2), rel=1e-6)


def test_per_image_average_not_pixel_pooled():
    gt1 = np.zeros((480, 640), np.float32)
    gt1[100, 100:110] = 1.0  # 10 pixels, abs_rel 1.0
    gt2 = np.zeros((480, 640), np.float32)
    gt2[100, 100] = 1.0  # 1 pixel, abs_rel 0
    m = run_metric(DepthEvalMetric(crop='eigen'),
                   [(gt1, np.full_like(gt1, 2.0)), (gt2, np.full_like(gt2, 1.0))])
    assert m['abs_rel'] == pytest.approx(0.5)  # pooled would be 10/11


# ---------------------------------------------------------------------------- crops, masks
def test_crop_boxes_by_hand():
    assert eval_crop_box('eigen', 480, 640) == (45, 471, 41, 601)
    # int(0.40810811*352)=143, int(0.99189189*352)=349, int(0.03594771*1216)=43,
    # int(0.96405229*1216)=1172
    assert eval_crop_box('garg', 352, 1216) == (143, 349, 43, 1172)
    # int(0.3324324*352)=117, int(0.91351351*352)=321, int(0.0359477*1216)=43
    assert eval_crop_box('eigen_kitti', 352, 1216) == (117, 321, 43, 1172)
    # the full 375x1242 frame: int(153.04)=153, int(371.96)=371, int(44.65)=44, int(1197.35)=1197
    assert eval_crop_box('garg', 375, 1242) == (153, 371, 44, 1197)
    assert eval_crop_box('none', 10, 10) is None


@pytest.mark.parametrize('crop,h,w', [('eigen', 480, 640), ('garg', 352, 1216),
                                      ('eigen_kitti', 352, 1216)])
def test_crop_selects_exact_rows_and_cols(crop, h, w):
    r0, r1, c0, c1 = eval_crop_box(crop, h, w)
    metric = DepthEvalMetric(crop=crop, max_depth=80.0)
    gt = np.full((h, w), 5.0, np.float32)
    # a distinct error on each border line just inside and just outside the crop
    inside = [(r0, c0), (r1 - 1, c1 - 1)]
    outside = [(r0 - 1, c0), (r1, c0), (r0, c0 - 1), (r0, c1)]
    pred = gt.copy()
    for r, c in outside:
        pred[r, c] = 50.0
    m = metric.evaluate_image(pred, gt)
    assert m['abs_rel'] == 0.0  # nothing outside counted
    pred = gt.copy()
    for r, c in inside:
        pred[r, c] = 10.0
    m = metric.evaluate_image(pred, gt)
    assert m['abs_rel'] == pytest.approx(2 / ((r1 - r0) * (c1 - c0)))


def test_eigen_crop_needs_nyu_frame():
    with pytest.raises(ValueError, match=r"480x640.*352x1216"):
        DepthEvalMetric(crop='eigen').evaluate_image(np.ones((352, 1216)), np.ones((352, 1216)))


def test_valid_range_min_exclusive_max_inclusive():
    metric = DepthEvalMetric(crop='none', min_depth=1.0, max_depth=10.0)
    gt = np.array([[1.0, 10.0, 10.5, 0.0]], np.float32)
    pred = np.array([[5.0, 5.0, 5.0, 5.0]], np.float32)
    m = metric.evaluate_image(pred, gt)
    assert m['abs_rel'] == pytest.approx(0.5)  # only gt = 10 counts


@pytest.mark.parametrize('bad,expected', [(np.nan, 1.0), (np.inf, 10.0), (-np.inf, 1.0),
                                          (100.0, 10.0), (-3.0, 1.0), (0.0, 1.0)])
def test_prediction_clamp(bad, expected):
    metric = DepthEvalMetric(crop='none', min_depth=1.0, max_depth=10.0)
    gt = np.array([[4.0]], np.float32)
    m = metric.evaluate_image(np.array([[bad]], np.float32), gt)
    assert m['abs_rel'] == pytest.approx(abs(4.0 - expected) / 4.0)


def test_image_without_valid_pixels_is_skipped(caplog):
    pairs = nyu_pairs()[:1]
    empty = np.zeros((480, 640), np.float32)
    empty[0:40, :] = 3.0  # valid depth, but only outside the Eigen crop
    metric = DepthEvalMetric(crop='eigen')
    metric.process({}, [sample(pairs[0][1], pairs[0][0], 'a.png').to_dict(),
                        sample(np.ones_like(empty), empty, 'empty.png').to_dict()])
    assert [r['skipped'] for r in metric.results] == [False, True]
    warned = []
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    original = logger.warning
    logger.warning = lambda msg, *a, **k: warned.append(msg)
    try:
        m = metric.compute_metrics(metric.results)
    finally:
        logger.warning = original
    assert any('skipped 1 of 2 images' in w and 'empty.png' in w for w in warned)
    expected = ref_evaluate(pairs, 1e-3, 10.0, 'eigen')
    for k in KEYS:
        assert abs(m[k] - expected[k]) <= 1e-6


def test_constant_memory_per_image():
    metric = DepthEvalMetric(crop='eigen')
    metric.process({}, [sample(p, g).to_dict() for g, p in nyu_pairs()])
    for r in metric.results:
        assert set(r) == set(KEYS) | {'img_path', 'skipped', 'n_eval', 'n_nonfinite'}
        assert all(isinstance(r[k], float) for k in KEYS)


def test_multi_rank_results_equal_single_process():
    """BaseMetric gathers every rank's ``results`` list and calls compute_metrics on the
    concatenation: two "ranks" holding disjoint images give the single-process numbers."""
    pairs = nyu_pairs()
    single = DepthEvalMetric(crop='eigen')
    single.process({}, [sample(p, g).to_dict() for g, p in pairs])
    rank0, rank1 = DepthEvalMetric(crop='eigen'), DepthEvalMetric(crop='eigen')
    rank0.process({}, [sample(p, g).to_dict() for g, p in pairs[0::2]])
    rank1.process({}, [sample(p, g).to_dict() for g, p in pairs[1::2]])
    # mmengine's collect_results interleaves the ranks' lists
    gathered = [rank0.results[0], rank1.results[0], rank0.results[1]]
    a = single.compute_metrics(single.results)
    b = rank0.compute_metrics(gathered)
    for k in KEYS:
        assert a[k] == pytest.approx(b[k], abs=1e-12)


def test_through_mmengine_evaluator():
    evaluator = Evaluator(dict(type='DepthEvalMetric', crop='garg', max_depth=80.0,
                               prefix='kitti'))
    pairs = kitti_pairs()
    evaluator.process([sample(p, g) for g, p in pairs], data_batch={})
    out = evaluator.evaluate(len(pairs))
    expected = ref_evaluate(pairs, 1e-3, 80.0, 'garg')
    assert set(out) == {f'kitti/{k}' for k in KEYS + ('nonfinite_pred',)}
    for k in KEYS:
        assert abs(out[f'kitti/{k}'] - expected[k]) <= 1e-6


def test_bad_inputs():
    with pytest.raises(ValueError, match="crop must be one of"):
        DepthEvalMetric(crop='center')
    with pytest.raises(ValueError, match='min_depth < max_depth'):
        DepthEvalMetric(min_depth=10, max_depth=1)
    metric = DepthEvalMetric(crop='none')
    with pytest.raises(ValueError, match=r"x.png"):
        metric.evaluate_image(np.ones((4, 5)), np.ones((4, 6)), 'x.png')
    ds = SegDataSample(metainfo=dict(img_path='nopred.png'))
    ds.gt_depth_map = PixelData(data=torch.ones(1, 4, 4))
    with pytest.raises(KeyError, match="nopred.png.*pred_depth_map"):
        metric.process({}, [ds.to_dict()])
