"""Temporal consistency and spatial continuity of dense depth (CLIP2Depth's extra studies, docs/mirror.md).

Formulas (docs/mirror.md):

Temporal, over pairs (t-1, t) of consecutive frames of a sequence (``DepthFramePairDataset``), on the
pixels ``V`` valid in both ground truths (``min_depth < g <= max_depth``, inside the evaluation crop),
finite predictions clamped to [min_depth, max_depth] (pixels with a NaN/inf prediction are left out and their
share reported), ``dp = p_t - p_{t-1}``, ``dg = g_t - g_{t-1}``::

    temporal_err        = sum |dp - dg|            / sum |dg|            (0 perfect, 1 constant output)
    temporal_err_log    = sum |dlog p - dlog g|    / sum |dlog g|        (same in log depth, scale-free)
    temporal_change     = sum |dp|                 / sum |dg|            (1 matches the true amount of change,
                                                                          0 frozen, > 1 flicker)
    temporal_abs_err    = sum |dp - dg| / |V|      (metres per pixel)

Sums run over every valid pixel of every pair (pooled), so pairs with many valid pixels weigh more and a
pair whose ground truth does not change cannot divide by zero.

Spatial, per image: absolute differences of horizontally and vertically adjacent pixels; a difference is
*across* a seam when its two pixels fall in different cells of the encoder's patch grid (``patch_size``
input pixels, 32 for RN50; the grid is anchored at the input's top-left and scaled by
img_shape / ori_shape), *inside* otherwise::

    spatial = (sum_across |grad| / n_across) / (sum_inside |grad| / n_inside)     (1.0 = no seams)

(1.0 for a locally constant map, inf when only seams change, NaN without any pixel pair) reported
for the prediction on every pixel of the crop (``spatial_pred``), for the ground truth on pairs of
valid pixels (``spatial_gt``) and for the prediction on those same pairs (``spatial_pred_on_gt``), pooled
over images.
"""
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from mmseg.registry import METRICS

from .depth_eval_metric import CROPS, _as_numpy, _field, _meta, clamp_prediction, eval_crop_box

__all__ = ['TemporalConsistencyMetric', 'SpatialContinuityMetric', 'temporal_pair_stats', 'seam_stats',
           'patch_cells']

TEMPORAL_KEYS = ('err', 'gt', 'pred', 'err_log', 'gt_log', 'pred_log', 'n')
SPATIAL_PARTS = ('pred', 'gt', 'pred_on_gt')


def _crop_mask(crop: str, shape: Tuple[int, int]) -> np.ndarray:
    box = eval_crop_box(crop, *shape)
    if box is None:
        return np.ones(shape, dtype=bool)
    mask = np.zeros(shape, dtype=bool)
    mask[box[0]:box[1], box[2]:box[3]] = True
    return mask


def _squeeze2d(x, what: str, name: str) -> np.ndarray:
    x = np.squeeze(_as_numpy(x)).astype(np.float64)
    if x.ndim != 2:
        raise ValueError(f'{what} of {name!r} must be an HxW map (or 1xHxW), got shape {x.shape}')
    return x


def temporal_pair_stats(pred_a: np.ndarray, pred_b: np.ndarray, gt_a: np.ndarray, gt_b: np.ndarray,
                        valid: np.ndarray) -> Dict[str, float]:
    """Sums for one pair (a = t-1, b = t) over ``valid`` pixels; predictions must be > 0 (clamped)."""
    dp = pred_b[valid] - pred_a[valid]
    dg = gt_b[valid] - gt_a[valid]
    dlp = np.log(pred_b[valid]) - np.log(pred_a[valid])
    dlg = np.log(gt_b[valid]) - np.log(gt_a[valid])
    return dict(err=float(np.abs(dp - dg).sum()), gt=float(np.abs(dg).sum()), pred=float(np.abs(dp).sum()),
                err_log=float(np.abs(dlp - dlg).sum()), gt_log=float(np.abs(dlg).sum()),
                pred_log=float(np.abs(dlp).sum()), n=int(valid.sum()))


def patch_cells(length: int, patch_size: float, scale: float = 1.0) -> np.ndarray:
    """Patch-grid cell of each of ``length`` pixels: ``floor((i + 0.5) * scale / patch_size)``, where
    ``scale`` = input pixels per ground-truth pixel (1 when the network saw the frame unresized)."""
    return np.floor((np.arange(length) + 0.5) * scale / patch_size).astype(np.int64)


def seam_stats(depth: np.ndarray, mask: np.ndarray, patch_size: float,
               scale: Tuple[float, float] = (1.0, 1.0)) -> Dict[str, float]:
    """``sum`` and count of |depth difference| of adjacent pixel pairs (both in ``mask``) across and
    inside the patch grid: keys ``across_sum, across_n, inside_sum, inside_n``."""
    rows = patch_cells(depth.shape[0], patch_size, scale[0])
    cols = patch_cells(depth.shape[1], patch_size, scale[1])
    dx = np.abs(depth[:, 1:] - depth[:, :-1])
    mx = mask[:, 1:] & mask[:, :-1]
    across_x = np.broadcast_to((cols[1:] != cols[:-1])[None, :], dx.shape)
    dy = np.abs(depth[1:, :] - depth[:-1, :])
    my = mask[1:, :] & mask[:-1, :]
    across_y = np.broadcast_to((rows[1:] != rows[:-1])[:, None], dy.shape)
    out = dict(across_sum=0.0, across_n=0, inside_sum=0.0, inside_n=0)
    for d, m, a in ((dx, mx, across_x), (dy, my, across_y)):
        out['across_sum'] += float(d[m & a].sum())
        out['across_n'] += int((m & a).sum())
        out['inside_sum'] += float(d[m & ~a].sum())
        out['inside_n'] += int((m & ~a).sum())
    return out


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den > 0 else float('nan')


class _DepthPairMixin:
    """Shared argument checks and per-sample reading of the consistency metrics."""

    def _check(self, min_depth, max_depth, crop):
        if crop not in CROPS:
            raise ValueError(f'crop must be one of {CROPS}, got {crop!r}')
        if not 0 < min_depth < max_depth:
            raise ValueError(f'need 0 < min_depth < max_depth, got {min_depth}, {max_depth}')
        self.min_depth, self.max_depth, self.crop = float(min_depth), float(max_depth), crop

    def _read(self, sample) -> Tuple[np.ndarray, np.ndarray, str]:
        name = _meta(sample, 'img_path', '<image>')
        pred, gt = _field(sample, 'pred_depth_map'), _field(sample, 'gt_depth_map')
        if pred is None or gt is None:
            raise KeyError(f'{type(self).__name__} needs pred_depth_map and gt_depth_map in every data '
                           f'sample; {name!r} lacks {"pred_depth_map" if pred is None else "gt_depth_map"}')
        pred, gt = _squeeze2d(pred, 'pred_depth_map', name), _squeeze2d(gt, 'gt_depth_map', name)
        if pred.shape != gt.shape:
            raise ValueError(f'{type(self).__name__}: prediction {pred.shape} and ground truth {gt.shape} of '
                             f'{name!r} must be the same HxW')
        # finite predictions clamped to the range; NaN / inf stay non-finite and are left out by the metrics,
        # which count them (a NaN clamped to min_depth would read as a frozen, seamless prediction)
        finite = np.isfinite(pred)
        pred = np.where(finite, np.clip(np.where(finite, pred, self.min_depth), self.min_depth, self.max_depth), pred)
        return pred, gt, name

    def _valid(self, gt: np.ndarray) -> np.ndarray:
        return (gt > self.min_depth) & (gt <= self.max_depth) & _crop_mask(self.crop, gt.shape)


@METRICS.register_module()
class TemporalConsistencyMetric(_DepthPairMixin, BaseMetric):
    """Frame-to-frame change of the prediction against the ground truth's (flicker; formulas in the
    module docstring and docs/mirror.md).

    Needs :class:`DepthFramePairDataset` with ``collate_fn=dict(type='frame_pair_collate')``: each data
    sample carries ``pair_id`` and ``pair_frame`` (0 = t-1, 1 = t) and both frames of a pair arrive in the
    same batch. ``process`` reduces each pair to seven sums (constant memory per pair) and appends one result
    per pair, i.e. per dataset item, which is what mmengine's multi-process result collection expects.
    Output keys: ``temporal_err``, ``temporal_err_log``, ``temporal_change``, ``temporal_abs_err``,
    ``temporal_pairs`` (pairs with a pixel valid in both frames), ``temporal_nonfinite_pred`` (share of the
    valid pixels with a NaN/inf prediction in either frame; those pixels are left out, with a warning).
    """

    default_prefix: Optional[str] = ''  # keys without a prefix (and no mmengine warning)

    def __init__(self, min_depth: float = 1e-3, max_depth: float = 10.0, crop: str = 'none',
                 collect_device: str = 'cpu', prefix: Optional[str] = None, **kwargs):
        super().__init__(collect_device=collect_device, prefix=prefix, **kwargs)
        self._check(min_depth, max_depth, crop)

    def process(self, data_batch, data_samples: Sequence) -> None:
        pairs = OrderedDict()
        for sample in data_samples:
            pid, role = _meta(sample, 'pair_id'), _meta(sample, 'pair_frame')
            if pid is None or role not in (0, 1):
                raise KeyError('TemporalConsistencyMetric needs frame pairs: data samples without pair_id / '
                               f'pair_frame ({_meta(sample, "img_path", "<image>")!r}); evaluate on '
                               "DepthFramePairDataset with collate_fn=dict(type='frame_pair_collate')")
            pairs.setdefault(pid, {})[role] = sample
        for pid, frames in pairs.items():
            if set(frames) != {0, 1}:
                raise ValueError(f'TemporalConsistencyMetric: pair {pid} arrived incomplete (frames '
                                 f'{sorted(frames)}); both frames of a pair must be in one batch '
                                 "(collate_fn=dict(type='frame_pair_collate'))")
            pa, ga, na = self._read(frames[0])
            pb, gb, nb = self._read(frames[1])
            if ga.shape != gb.shape:
                raise ValueError(f'TemporalConsistencyMetric: frames {na!r} {ga.shape} and {nb!r} {gb.shape} '
                                 'of one pair differ in size')
            valid = self._valid(ga) & self._valid(gb)
            finite = np.isfinite(pa) & np.isfinite(pb)
            stats = temporal_pair_stats(pa, pb, ga, gb, valid & finite)
            self.results.append(dict(stats, pair_id=pid, img_path=(na, nb), n_valid=int(valid.sum()),
                                     n_nonfinite=int((valid & ~finite).sum())))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        logger = MMLogger.get_current_instance()
        kept = [r for r in results if r['n'] > 0]
        if len(kept) < len(results):
            logger.warning(f'TemporalConsistencyMetric: {len(results) - len(kept)} of {len(results)} pairs '
                           'have no pixel valid in both frames and are ignored, e.g. '
                           f'{[r["img_path"] for r in results if r["n"] == 0][:2]}')
        n_valid = sum(r.get('n_valid', r['n']) for r in results)
        n_bad = sum(r.get('n_nonfinite', 0) for r in results)
        if n_bad:
            logger.warning(f'TemporalConsistencyMetric: {n_bad} of {n_valid} valid pixels have a non-finite (NaN/inf) '
                           'prediction in one of the two frames and are left out: the model is broken '
                           '(temporal_nonfinite_pred)')
        tot = {k: float(sum(r[k] for r in kept)) for k in TEMPORAL_KEYS}
        metrics = OrderedDict(
            temporal_err=_ratio(tot['err'], tot['gt']),
            temporal_err_log=_ratio(tot['err_log'], tot['gt_log']),
            temporal_change=_ratio(tot['pred'], tot['gt']),
            temporal_abs_err=_ratio(tot['err'], tot['n']),
            temporal_pairs=float(len(kept)),
            temporal_nonfinite_pred=_ratio(n_bad, n_valid))
        if kept and tot['gt'] == 0:
            logger.warning('TemporalConsistencyMetric: temporal_err, temporal_err_log and temporal_change are NaN: '
                           'the ground truth does not change between the two frames of any pair (sum |g_t - g_t-1| '
                           '= 0, e.g. a static camera on a static scene), so there is no true change to compare '
                           'with; temporal_abs_err (metres per pixel) is still defined')
        logger.info(f'TemporalConsistencyMetric over {len(kept)} pairs ({int(tot["n"])} pixels, '
                    f'crop={self.crop!r}): ' + ', '.join(f'{k}={v:.4f}' for k, v in metrics.items()))
        return metrics


@METRICS.register_module()
class SpatialContinuityMetric(_DepthPairMixin, BaseMetric):
    """Depth-gradient magnitude across the encoder's patch-grid lines relative to inside the patches
    (1.0 = no seams; formulas in the module docstring and docs/mirror.md).

    ``patch_size``: the encoder's stride in input pixels (32 for CLIP RN50, 16 for ViT-B/16). The grid is
    anchored at the input's top-left; when the network saw a resized frame (``img_shape`` differs from
    ``ori_shape``) the grid is scaled to the ground-truth frame. ``space``: ``'linear'`` (metres) or
    ``'log'`` (log depth). Per image only 12 numbers are kept; on :class:`DepthFramePairDataset` the two
    frames of a pair are summed into one result so results stay one per dataset item. Output keys:
    ``spatial_pred``, ``spatial_gt``, ``spatial_pred_on_gt``, ``spatial_nonfinite_pred`` (share of the crop's
    predicted pixels that are NaN/inf; pixel pairs touching one are left out).
    """

    default_prefix: Optional[str] = ''  # keys without a prefix (and no mmengine warning)

    def __init__(self, patch_size: float = 32, min_depth: float = 1e-3, max_depth: float = 10.0,
                 crop: str = 'none', space: str = 'linear', collect_device: str = 'cpu',
                 prefix: Optional[str] = None, **kwargs):
        super().__init__(collect_device=collect_device, prefix=prefix, **kwargs)
        self._check(min_depth, max_depth, crop)
        if not patch_size > 1:
            raise ValueError(f'patch_size must be > 1 pixel, got {patch_size!r}')
        if space not in ('linear', 'log'):
            raise ValueError(f"space must be 'linear' or 'log', got {space!r}")
        self.patch_size = float(patch_size)
        self.space = space

    def image_stats(self, pred: np.ndarray, gt: np.ndarray, scale=(1.0, 1.0)) -> Dict[str, float]:
        """The 12 sums/counts of one image (``{part}_{across,inside}_{sum,n}``)."""
        finite = np.isfinite(pred)
        valid = self._valid(gt)
        in_crop = _crop_mask(self.crop, gt.shape)
        out = dict(nonfinite=int((in_crop & ~finite).sum()), pixels=int(in_crop.sum()))
        if self.space == 'log':
            pred = np.log(pred)
            gt = np.log(np.where(valid, gt, 1.0))
        for part, depth, mask in (('pred', pred, in_crop & finite), ('gt', gt, valid),
                                  ('pred_on_gt', pred, valid & finite)):
            for k, v in seam_stats(depth, mask, self.patch_size, scale).items():
                out[f'{part}_{k}'] = v
        return out

    def process(self, data_batch, data_samples: Sequence) -> None:
        groups = OrderedDict()
        for i, sample in enumerate(data_samples):
            pred, gt, name = self._read(sample)
            ori = _meta(sample, 'ori_shape') or gt.shape
            img = _meta(sample, 'img_shape') or ori
            scale = (img[0] / ori[0], img[1] / ori[1]) if tuple(ori[:2]) == gt.shape else (1.0, 1.0)
            stats = self.image_stats(pred, gt, scale)
            pid = _meta(sample, 'pair_id')
            key = ('pair', pid) if pid is not None else ('image', i)
            if key in groups:
                for k, v in stats.items():
                    groups[key][k] += v
            else:
                groups[key] = dict(stats)
        self.results.extend(groups.values())

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        metrics = OrderedDict()
        for part in SPATIAL_PARTS:
            tot = {k: float(sum(r[f'{part}_{k}'] for r in results))
                   for k in ('across_sum', 'across_n', 'inside_sum', 'inside_n')}
            across = _ratio(tot['across_sum'], tot['across_n'])
            inside = _ratio(tot['inside_sum'], tot['inside_n'])
            if across == 0 and inside == 0:
                value = 1.0  # a locally constant map has no seam
            elif inside == 0:
                value = float('inf') if across > 0 else float('nan')
            else:
                value = across / inside  # NaN when no pixel pair was counted
            metrics[f'spatial_{part}'] = float(value)
        n_bad, n_pix = sum(r.get('nonfinite', 0) for r in results), sum(r.get('pixels', 0) for r in results)
        metrics['spatial_nonfinite_pred'] = _ratio(n_bad, n_pix)
        if n_bad:
            MMLogger.get_current_instance().warning(
                f'SpatialContinuityMetric: {n_bad} of {n_pix} predicted pixels in the crop are non-finite (NaN/inf); '
                'pixel pairs touching them are left out (with none left the ratios are NaN, never 1.0): the model '
                'is broken (spatial_nonfinite_pred)')
        MMLogger.get_current_instance().info(
            f'SpatialContinuityMetric over {len(results)} items (patch {self.patch_size:g} px, {self.space}, '
            f'crop={self.crop!r}): ' + ', '.join(f'{k}={v:.4f}' for k, v in metrics.items()))
        return metrics
