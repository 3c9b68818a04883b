"""Ground-truth-free temporal flicker of predicted depth on consecutive frames.

For two consecutive frames with predictions ``d_{t-1}``, ``d_t`` and images ``I_{t-1}``, ``I_t`` (grey levels
0-255), over the *static* pixels ``S = {|I_t - I_{t-1}| <= colour_tol}`` (where the scene barely changed,
so the depth should not either) with valid predictions (finite, > 0)::

    flicker_t = median_{p in S} |d_t(p) - d_{t-1}(p)| / d_t(p)

A clip's (or a dataset's) figure is the median of ``flicker_t`` over its pairs, beside their mean and the
mean share of static pixels. 0 is perfectly stable; it needs no ground truth, so users can compare models
on their own videos (``demo/video_demo.py``). On pairs with camera motion the static set shrinks to
textureless regions; it is a comparison between models on the same clip, not an absolute error.
"""
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmseg.registry import METRICS

from .depth_eval_metric import _as_hw, _field, _meta

__all__ = ['FlickerMetric', 'pair_flicker', 'to_grey', 'summarise_flicker']


def to_grey(img: np.ndarray, bgr: bool = True) -> np.ndarray:
    """HxWx3 (BGR by default, or RGB) or HxW uint8 -> float32 grey (ITU-R BT.601 weights)."""
    img = np.asarray(img)
    if img.ndim == 2:
        return img.astype(np.float32)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f'expected an HxWx3 or HxW image, got shape {img.shape}')
    b, g, r = (img[..., 0], img[..., 1], img[..., 2]) if bgr else (img[..., 2], img[..., 1], img[..., 0])
    return (0.299 * r.astype(np.float32) + 0.587 * g.astype(np.float32) + 0.114 * b.astype(np.float32))


def pair_flicker(depth_prev: np.ndarray, depth_cur: np.ndarray, grey_prev: np.ndarray, grey_cur: np.ndarray,
                 colour_tol: float = 2.0) -> Optional[dict]:
    """``flicker_t`` of one pair (see the module docstring) and its static share; None without a static pixel."""
    d0, d1 = _as_hw(depth_prev).astype(np.float64), _as_hw(depth_cur).astype(np.float64)
    g0, g1 = np.asarray(grey_prev, np.float64), np.asarray(grey_cur, np.float64)
    if not (d0.shape == d1.shape == g0.shape == g1.shape):
        raise ValueError(f'flicker: depth {d0.shape}, {d1.shape} and images {g0.shape}, {g1.shape} must be the '
                         'same HxW')
    finite = np.isfinite(d0) & np.isfinite(d1)
    n_bad = int(d0.size - np.isfinite(d0).sum() + d1.size - np.isfinite(d1).sum())
    if n_bad:  # a NaN is not a stable depth: the pair gets no flicker (never 0.0, "perfect"), only its count
        return dict(flicker=float('nan'), static_fraction=float('nan'), nonfinite=n_bad, pixels=d0.size + d1.size)
    static = (np.abs(g1 - g0) <= colour_tol) & finite & (d0 > 0) & (d1 > 0)
    if not static.any():
        return None
    rel = np.abs(d1[static] - d0[static]) / d1[static]
    return dict(flicker=float(np.median(rel)), static_fraction=float(static.mean()), nonfinite=0,
                pixels=d0.size + d1.size)


def summarise_flicker(pairs: Sequence[Optional[dict]]) -> Dict[str, float]:
    """Median and mean of the pairs' flicker, mean static share, counts (pairs without static pixels skipped),
    and ``nonfinite_pred``: the share of predicted pixels that are NaN or inf. A pair with a non-finite prediction
    is not scored (``pairs_with_nonfinite``); with no scored pair, flicker and static_fraction are NaN."""
    seen = [p for p in pairs if p is not None and 'pixels' in p]
    n_pix = sum(p['pixels'] for p in seen)
    share = sum(p['nonfinite'] for p in seen) / n_pix if n_pix else float('nan')
    broken = [p for p in pairs if p is not None and p.get('nonfinite')]
    kept = [p for p in pairs if p is not None and not p.get('nonfinite')]
    counts = dict(pairs=len(kept), pairs_without_static_pixels=sum(p is None for p in pairs),
                  pairs_with_nonfinite=len(broken), nonfinite_pred=share)
    if not kept:
        return OrderedDict(flicker=float('nan'), flicker_mean=float('nan'), static_fraction=float('nan'), **counts)
    values = np.array([p['flicker'] for p in kept])
    return OrderedDict(flicker=float(np.median(values)), flicker_mean=float(values.mean()),
                       static_fraction=float(np.mean([p['static_fraction'] for p in kept])), **counts)


@METRICS.register_module()
class FlickerMetric(BaseMetric):
    """``flicker`` (median over frame pairs), ``flicker_mean``, ``static_fraction`` on ``DepthFramePairDataset``
    batches (``collate_fn=dict(type='frame_pair_collate')``); no ground truth is read. ``flicker_nonfinite_pred``:
    the share of predicted pixels that are NaN or inf (pairs holding any are not scored, with a warning). ``colour_tol``: the grey
    level change (0-255) under which a pixel counts as static."""
    default_prefix: Optional[str] = ''

    def __init__(self, colour_tol: float = 2.0, collect_device: str = 'cpu', prefix: Optional[str] = None,
                 **kwargs):
        super().__init__(collect_device=collect_device, prefix=prefix, **kwargs)
        if colour_tol < 0:
            raise ValueError(f'colour_tol must be >= 0, got {colour_tol}')
        self.colour_tol = float(colour_tol)

    @staticmethod
    def _grey(image, shape) -> np.ndarray:
        import cv2
        img = image.detach().cpu().numpy() if hasattr(image, 'detach') else np.asarray(image)
        if img.ndim == 3 and img.shape[0] in (1, 3):
            img = np.transpose(img, (1, 2, 0))
        grey = to_grey(img[..., 0] if img.ndim == 3 and img.shape[2] == 1 else img)
        if grey.shape != tuple(shape):
            grey = cv2.resize(grey, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
        return grey

    def process(self, data_batch, data_samples: Sequence) -> None:
        inputs = (data_batch or {}).get('inputs')
        if inputs is None or len(inputs) != len(data_samples):
            raise KeyError('FlickerMetric needs the batch images (data_batch["inputs"], one per data sample)')
        pairs = OrderedDict()
        for image, sample in zip(inputs, data_samples):
            pid, role = _meta(sample, 'pair_id'), _meta(sample, 'pair_frame')
            if pid is None or role not in (0, 1):
                raise KeyError('FlickerMetric needs frame pairs: evaluate on DepthFramePairDataset with '
                               "collate_fn=dict(type='frame_pair_collate')")
            pred = _field(sample, 'pred_depth_map')
            if pred is None:
                raise KeyError(f'FlickerMetric: {_meta(sample, "img_path", "<image>")!r} has no pred_depth_map')
            pred = _as_hw(pred)
            pairs.setdefault(pid, {})[role] = (pred, self._grey(image, pred.shape))
        for pid, frames in pairs.items():
            if set(frames) != {0, 1}:
                raise ValueError(f'FlickerMetric: pair {pid} arrived incomplete (frames {sorted(frames)})')
            (d0, g0), (d1, g1) = frames[0], frames[1]
            self.results.append(dict(pair_id=pid, stats=pair_flicker(d0, d1, g0, g1, self.colour_tol)))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        out = summarise_flicker([r['stats'] for r in results])
        if out['pairs_with_nonfinite']:
            from mmengine.logging import MMLogger
            MMLogger.get_current_instance().warning(
                f"FlickerMetric: {out['pairs_with_nonfinite']} of {len(results)} frame pairs have non-finite (NaN/inf) "
                f"predictions ({100 * out['nonfinite_pred']:.2f} % of the predicted pixels) and are not scored: "
                'the model is broken (flicker_nonfinite_pred)')
        metrics = OrderedDict((k, float(v)) for k, v in out.items() if k in ('flicker', 'flicker_mean',
                                                                             'static_fraction'))
        metrics['flicker_nonfinite_pred'] = float(out['nonfinite_pred'])
        return metrics
