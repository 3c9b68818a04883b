"""The field's monocular-depth evaluation protocol (BTS/AdaBins ``compute_errors``; docs/fidelity.md
"Evaluation"), and DepthCLIP's own variant as options."""
import os
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.dist import is_main_process
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from mmseg.registry import METRICS

#: Metric keys, in the order of the usual tables.
METRIC_NAMES = ('d1', 'd2', 'd3', 'abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'log10', 'silog',
                'rmse_log_unrooted')

#: NYU Eigen crop (BTS/AdaBins ``eval_mask[45:471, 41:601]``) for the 480x640 frame.
NYU_EIGEN_ROWS = (45, 471)
NYU_EIGEN_COLS = (41, 601)
NYU_FRAME = (480, 640)
#: DepthCLIP's NYU crop (``calculate_error.py``, ``compute_errors_NYU``: ``crop_mask[45:471, 46:601]``).
DEPTHCLIP_NYU_COLS = (46, 601)
#: Fractional crops (rows top, rows bottom, cols left, cols right), truncated with int() as in
#: BTS/AdaBins: Garg et al. ECCV16, and BTS's KITTI "eigen" crop.
GARG_FRACTIONS = (0.40810811, 0.99189189, 0.03594771, 0.96405229)
KITTI_EIGEN_FRACTIONS = (0.3324324, 0.91351351, 0.0359477, 0.96405229)
CROPS = ('eigen', 'depthclip_nyu', 'garg', 'eigen_kitti', 'eigen_box', 'none')
#: ways of relating a prediction to the ground truth before the errors (zero-shot protocols, docs/zero_shot.md)
ALIGNMENTS = ('metric', 'median', 'lsq_depth', 'lsq_disparity')


def eval_crop_box(crop: str, height: int, width: int) -> Optional[Tuple[int, int, int, int]]:
    """(row0, row1, col0, col1) of the evaluation crop in a ``height x width`` GT frame.

    ``'eigen'``: NYU's fixed rows 45:471, cols 41:601 (requires a 480x640 frame); ``'depthclip_nyu'``:
    rows 45:471, cols 46:601 (DepthCLIP's ``compute_errors_NYU``);
    ``'garg'``: rows int(0.40810811 H):int(0.99189189 H), cols int(0.03594771 W):int(0.96405229 W);
    ``'eigen_kitti'``: rows int(0.3324324 H):int(0.91351351 H), cols int(0.0359477 W):
    int(0.96405229 W); ``'eigen_box'``: rows 45:471, cols 41:601 of any frame, clipped to it (ZoeDepth's
    zero-shot evaluation); ``'none'``: ``None`` (whole frame).
    """
    if crop == 'none':
        return None
    if crop == 'eigen_box':  # ZoeDepth's eval_mask[45:471, 41:601] on any frame (numpy clips it to the frame)
        return (min(NYU_EIGEN_ROWS[0], height), min(NYU_EIGEN_ROWS[1], height), min(NYU_EIGEN_COLS[0], width),
                min(NYU_EIGEN_COLS[1], width))
    if crop in ('eigen', 'depthclip_nyu'):
        if (height, width) != NYU_FRAME:
            raise ValueError(f"crop='eigen' is NYU's fixed crop of the 480x640 frame (rows 45:471, "
                             f'cols 41:601); got a {height}x{width} ground truth. Use '
                             f"crop='garg' or 'eigen_kitti' for KITTI, 'none' otherwise")
        return NYU_EIGEN_ROWS + (NYU_EIGEN_COLS if crop == 'eigen' else DEPTHCLIP_NYU_COLS)
    if crop in ('garg', 'eigen_kitti'):
        f = GARG_FRACTIONS if crop == 'garg' else KITTI_EIGEN_FRACTIONS
        return (int(f[0] * height), int(f[1] * height), int(f[2] * width), int(f[3] * width))
    raise ValueError(f'crop must be one of {CROPS}, got {crop!r}')


def clamp_prediction(pred: np.ndarray, min_depth: float, max_depth: float) -> np.ndarray:
    """Clamp to [min_depth, max_depth]; NaN -> min_depth, +inf -> max_depth, -inf -> min_depth.

    This is BTS/AdaBins' sequence (``pred[pred < min] = min; pred[pred > max] = max;
    pred[isinf] = max; pred[isnan] = min``), where -inf is already caught by the first step, and
    Auty et al.'s ``torch.clamp`` followed by NaN handling.
    """
    pred = np.where(np.isnan(pred), min_depth, pred)
    return np.clip(pred, min_depth, max_depth)


def align_prediction(pred: np.ndarray, gt: np.ndarray, alignment: str) -> np.ndarray:
    """The prediction related to the ground truth (1-D arrays of the evaluated pixels, float64):
    ``metric`` as is; ``median`` times median(gt) / median(pred); ``lsq_depth`` the least-squares ``s p + t``;
    ``lsq_disparity`` ``1 / (s / p + t)`` with (s, t) least squares in disparity (a non-positive fitted
    disparity becomes +inf, then clamped to the range's maximum)."""
    if alignment == 'metric':
        return pred
    if alignment == 'median':
        return pred * (np.median(gt) / np.median(pred))
    if alignment == 'lsq_depth':
        a = np.stack([pred, np.ones_like(pred)], 1)
        s, t = np.linalg.lstsq(a, gt, rcond=None)[0]
        return s * pred + t
    if alignment == 'lsq_disparity':
        disp = 1.0 / pred
        a = np.stack([disp, np.ones_like(disp)], 1)
        s, t = np.linalg.lstsq(a, 1.0 / gt, rcond=None)[0]
        fitted = s * disp + t
        with np.errstate(divide='ignore'):
            return np.where(fitted > 0, 1.0 / np.maximum(fitted, 1e-300), np.inf)
    raise ValueError(f'alignment must be one of {ALIGNMENTS}, got {alignment!r}')


def compute_depth_errors(gt: np.ndarray, pred: np.ndarray) -> Dict[str, float]:
    """Per-image errors on valid pixels (1-D arrays, both > 0), float64.

    delta_k: mean(max(g/p, p/g) < 1.25^k); abs_rel: mean(|g-p|/g); sq_rel: mean((g-p)^2/g);
    rmse: sqrt(mean((g-p)^2)); rmse_log: sqrt(mean((log g - log p)^2)); log10:
    mean(|log10 g - log10 p|); silog: 100 sqrt(mean(d^2) - mean(d)^2), d = log p - log g (the
    variance floored at 0 against rounding); rmse_log_unrooted: mean((log g - log p)^2) (Auty et
    al.'s "RMSL" column).
    """
    gt = gt.astype(np.float64)
    pred = pred.astype(np.float64)
    thresh = np.maximum(gt / pred, pred / gt)
    diff = gt - pred
    d = np.log(pred) - np.log(gt)
    sq_log = np.mean(d ** 2)
    return OrderedDict(
        d1=float(np.mean(thresh < 1.25)),
        d2=float(np.mean(thresh < 1.25 ** 2)),
        d3=float(np.mean(thresh < 1.25 ** 3)),
        abs_rel=float(np.mean(np.abs(diff) / gt)),
        sq_rel=float(np.mean(diff ** 2 / gt)),
        rmse=float(np.sqrt(np.mean(diff ** 2))),
        rmse_log=float(np.sqrt(sq_log)),
        log10=float(np.mean(np.abs(np.log10(gt) - np.log10(pred)))),
        silog=float(100.0 * np.sqrt(max(sq_log - np.mean(d) ** 2, 0.0))),
        rmse_log_unrooted=float(sq_log))


def _as_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _as_hw(x) -> np.ndarray:
    """float64 (H, W): drops leading singleton axes of (1, H, W) / (1, 1, H, W)."""
    x = _as_numpy(x)
    while x.ndim > 2 and x.shape[0] == 1:
        x = x[0]
    return x.astype(np.float64)


def _field(sample, name: str):
    """``sample[name]['data']`` for a data-sample dict or ``sample.name.data`` for a data element."""
    if isinstance(sample, dict):
        value = sample.get(name)
        if value is None:
            return None
        return value['data'] if isinstance(value, dict) else getattr(value, 'data', value)
    value = getattr(sample, name, None)
    return None if value is None else getattr(value, 'data', value)


def _meta(sample, key: str, default=None):
    if isinstance(sample, dict):
        return sample.get(key, default)
    return sample.metainfo.get(key, default)


@METRICS.register_module()
class DepthEvalMetric(BaseMetric):
    """Depth metrics of BTS/AdaBins (and Auty et al.), per image then averaged over images.

    For every image: the evaluation crop (``crop``, in the ground-truth frame) intersected with the
    valid mask ``min_depth < gt <= max_depth``; the prediction clamped to [min_depth, max_depth]
    (NaN -> min, +inf -> max, -inf -> min); then :func:`compute_depth_errors`. Only the ten
    per-image numbers are kept (constant memory per image) in ``self.results``, which mmengine
    gathers from every rank before :meth:`compute_metrics` averages them, so multi-process
    evaluation equals single-process evaluation. An image with no valid pixel is skipped with a
    warning and counted.

    Reads ``pred_depth_map`` and ``gt_depth_map`` (``(1, H, W)`` metres, same size) from each data
    sample. Output keys: ``d1 d2 d3 abs_rel sq_rel rmse rmse_log log10 silog rmse_log_unrooted``, and
    ``nonfinite_pred``: the share of evaluated pixels (valid ground truth inside the crop) whose prediction is
    NaN or inf, pooled over images; a warning names such images (with ``prefix/`` when ``prefix`` is set).

    Args:
        min_depth, max_depth (float): evaluation range (NYU 1e-3/10, KITTI 1e-3/80).
        crop (str): ``'eigen'`` (NYU 480x640: rows 45:471, cols 41:601), ``'depthclip_nyu'``
            (DepthCLIP: rows 45:471, cols 46:601), ``'garg'`` (KITTI, fractions of the KB-cropped
            352x1216 frame), ``'eigen_kitti'`` (BTS's KITTI Eigen crop), or ``'none'``.
        max_inclusive (bool): valid ``gt <= max_depth`` (True, BTS/AdaBins/Auty) or ``gt < max_depth``
            (False, DepthCLIP's ``sparse_gt < 10``).
        min_pred (float, optional): also require the raw prediction ``> min_pred`` before clamping
            (DepthCLIP: 1e-3, which also drops the zero frame around an ``img_crop_box`` paste).
        output_dir (str, optional), format_only (bool): as mmseg's ``DepthMetric`` (``tools/test.py --out``):
            also write each prediction to ``output_dir/{image stem}.png`` (uint16, depth x
            ``depth_scale_factor``, default 1000 = millimetres); ``format_only`` writes without computing.
        Pixels outside a sample's ``img_crop_box`` (``ImageOnlyCrop``) are never counted: nothing was
        predicted there.
        alignment (str): ``'metric'`` (the prediction as is), ``'median'`` (per-image median scaling),
            ``'lsq_depth'`` / ``'lsq_disparity'`` (per-image least-squares scale and shift in depth /
            disparity), fitted on the evaluated pixels before clamping (``align_prediction``; docs/zero_shot.md).
        focal_rescale (float, optional): the training focal length (px): the prediction is multiplied by
            ``focal / focal_rescale`` with the sample's ``focal`` first (mmdepth's focal rescaling).
        pred_key (str): the data-sample field holding the prediction (default ``pred_depth_map``; a
            ``MultiVariantDepthEstimator`` stores variant ``v``'s as ``pred_depth_map_v``).
        collect_device, prefix: see :class:`mmengine.evaluator.BaseMetric`.
    """

    #: '' (not None): keys without a prefix on purpose, as in the papers' tables (and no mmengine warning)
    default_prefix: Optional[str] = ''

    def __init__(self,
                 min_depth: float = 1e-3,
                 max_depth: float = 10.0,
                 crop: str = 'eigen',
                 max_inclusive: bool = True,
                 min_pred: Optional[float] = None,
                 output_dir: Optional[str] = None,
                 format_only: bool = False,
                 depth_scale_factor: float = 1000.0,
                 pred_key: str = 'pred_depth_map',
                 alignment: str = 'metric',
                 focal_rescale: Optional[float] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 **kwargs) -> None:
        kwargs.pop('keep_results', None)  # mmseg's tools/test.py --out sets it for its own metrics
        super().__init__(collect_device=collect_device, prefix=prefix, **kwargs)
        self.output_dir = output_dir
        self.pred_key = str(pred_key)
        if alignment not in ALIGNMENTS:
            raise ValueError(f'DepthEvalMetric: alignment must be one of {ALIGNMENTS}, got {alignment!r}')
        self.alignment = alignment
        if focal_rescale is not None and not focal_rescale > 0:
            raise ValueError(f'DepthEvalMetric: focal_rescale (the training focal length, px) must be > 0, '
                             f'got {focal_rescale!r}')
        self.focal_rescale = None if focal_rescale is None else float(focal_rescale)
        self.format_only = bool(format_only)
        self.depth_scale_factor = float(depth_scale_factor)
        if format_only and not output_dir:
            raise ValueError('DepthEvalMetric: format_only=True needs output_dir (where the predictions go)')
        if output_dir and is_main_process():
            os.makedirs(output_dir, exist_ok=True)
        if crop not in CROPS:
            raise ValueError(f'crop must be one of {CROPS}, got {crop!r}')
        if not 0 <= min_depth < max_depth:
            raise ValueError(f'need 0 <= min_depth < max_depth, got {min_depth}, {max_depth}')
        self.min_depth = float(min_depth)
        self.max_depth = float(max_depth)
        self.crop = crop
        self.max_inclusive = bool(max_inclusive)
        self.min_pred = None if min_pred is None else float(min_pred)

    def evaluate_image(self, pred: np.ndarray, gt: np.ndarray, name: str = '<image>',
                       img_crop_box: Optional[Sequence[int]] = None,
                       focal: Optional[float] = None) -> Optional[Dict[str, float]]:
        """Metrics of one (H, W) prediction/GT pair, or ``None`` when no pixel is valid."""
        pred = _as_hw(pred)
        gt = _as_hw(gt)
        if gt.ndim != 2 or pred.shape != gt.shape:
            raise ValueError(f'DepthEvalMetric: prediction {pred.shape} and ground truth '
                             f'{gt.shape} of {name!r} must be the same HxW (the estimator '
                             f'returns predictions at the ground-truth frame, ori_shape)')
        valid = (gt > self.min_depth) & ((gt <= self.max_depth) if self.max_inclusive else (gt < self.max_depth))
        if img_crop_box is not None:
            left, top, right, bottom = (int(v) for v in img_crop_box)
            predicted = np.zeros_like(valid)
            predicted[top:bottom, left:right] = True
            valid &= predicted
        box = eval_crop_box(self.crop, *gt.shape)
        if box is not None:
            in_crop = np.zeros_like(valid)
            in_crop[box[0]:box[1], box[2]:box[3]] = True
            valid &= in_crop
        # non-finite predictions on the evaluated pixels, counted before min_pred (which would drop NaN silently)
        self._last_counts = (int(valid.sum()), int((valid & ~np.isfinite(pred)).sum()))
        if self.min_pred is not None:
            valid &= pred > self.min_pred  # (NaN compares False: not counted, but in nonfinite_pred)
        if not valid.any():
            return None
        if self.focal_rescale is not None:
            if not focal:
                raise ValueError(f'DepthEvalMetric: focal_rescale needs the focal length of {name!r} (the dataset '
                                 'gives none)')
            pred = pred * (float(focal) / self.focal_rescale)
        if self.alignment == 'metric':
            pred = clamp_prediction(pred, self.min_depth, self.max_depth)
            return compute_depth_errors(gt[valid], pred[valid])
        p = np.nan_to_num(pred[valid].astype(np.float64), nan=self.min_depth)
        p = np.maximum(p, max(self.min_depth, 1e-6))  # median / disparity need a positive prediction
        p = align_prediction(p, gt[valid].astype(np.float64), self.alignment)
        return compute_depth_errors(gt[valid], clamp_prediction(p, max(self.min_depth, 1e-6), self.max_depth))

    def process(self, data_batch, data_samples: Sequence) -> None:
        for sample in data_samples:
            pred = _field(sample, self.pred_key)
            gt = _field(sample, 'gt_depth_map')
            name = _meta(sample, 'img_path', '<image>')
            if self.output_dir is not None and pred is not None:
                self._save_png(pred, name)
            if self.format_only:
                continue
            if pred is None or gt is None:
                raise KeyError(f'DepthEvalMetric needs {self.pred_key} and gt_depth_map in every '
                               f'data sample; {name!r} lacks '
                               f"{self.pred_key if pred is None else 'gt_depth_map'}")
            self._last_counts = (0, 0)
            errors = self.evaluate_image(pred, gt, name, _meta(sample, 'img_crop_box'), _meta(sample, 'focal'))
            counts = dict(n_eval=self._last_counts[0], n_nonfinite=self._last_counts[1])
            if errors is None:
                self.results.append(dict(counts, img_path=name, skipped=True))
            else:
                self.results.append(dict(errors, **counts, img_path=name, skipped=False))

    def _save_png(self, pred, name: str) -> None:
        """mmseg's ``DepthMetric`` output: ``{output_dir}/{image stem}.png``, uint16 of depth x
        ``depth_scale_factor`` (default 1000: millimetres, as NYU's ground truth; 0 = invalid)."""
        import cv2
        depth = _as_hw(pred) * self.depth_scale_factor
        depth = np.clip(np.nan_to_num(depth, nan=0.0, posinf=65535, neginf=0), 0, 65535).round().astype(np.uint16)
        path = osp.join(self.output_dir, osp.splitext(osp.basename(str(name)))[0] + '.png')
        if not cv2.imwrite(path, depth, [cv2.IMWRITE_PNG_COMPRESSION, 0]):
            raise OSError(f'DepthEvalMetric: could not write {path!r}')

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        logger = MMLogger.get_current_instance()
        if self.format_only:
            logger.info(f'DepthEvalMetric: predictions written to {self.output_dir} (format_only: no metrics)')
            return OrderedDict()
        kept = [r for r in results if not r.get('skipped')]
        skipped = [r['img_path'] for r in results if r.get('skipped')]
        n_eval = sum(r.get('n_eval', 0) for r in results)
        n_bad = sum(r.get('n_nonfinite', 0) for r in results)
        share = n_bad / n_eval if n_eval else float('nan')
        if n_bad:
            bad = [r['img_path'] for r in results if r.get('n_nonfinite')]
            logger.warning(
                f'DepthEvalMetric: {n_bad} of {n_eval} evaluated pixels ({100 * share:.2f} %) of {len(bad)} image(s) '
                f'have a non-finite (NaN/inf) prediction, e.g. {bad[:3]}; they are '
                + ('dropped by min_pred' if self.min_pred is not None else
                   'clamped (NaN, -inf -> min_depth, +inf -> max_depth) as in BTS/AdaBins')
                + ': the model is broken, these metrics do not describe it (nonfinite_pred)')
        if skipped:
            logger.warning(
                f'DepthEvalMetric: skipped {len(skipped)} of {len(results)} images with no valid '
                f'ground-truth pixel (min_depth < gt <= max_depth inside the {self.crop!r} crop), '
                f'e.g. {skipped[:3]}')
        if not kept:
            logger.warning('DepthEvalMetric: no image had a valid pixel; every metric is NaN')
            out = OrderedDict((k, float('nan')) for k in METRIC_NAMES)
            out['nonfinite_pred'] = share
            return out
        metrics = OrderedDict(
            (k, float(np.mean([r[k] for r in kept], dtype=np.float64))) for k in METRIC_NAMES)
        metrics['nonfinite_pred'] = share  # share of evaluated pixels whose prediction was NaN or inf
        logger.info(f'DepthEvalMetric over {len(kept)} images (crop={self.crop!r}, range '
                    f'({self.min_depth:g}, {self.max_depth:g}]): ' +
                    ', '.join(f'{k}={v:.4f}' for k, v in metrics.items()))
        return metrics
