"""LLM-MDE's own evaluation: per-image min-max normalised delta accuracies (docs/llm_mde.md)."""
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from mmseg.registry import METRICS
from torch import Tensor

from .depth_eval_metric import _field, _meta

__all__ = ['NormalizedDeltaMetric', 'normalized_delta', 'llm_mde_silog']


def _minmax(x: Tensor) -> Tensor:
    lo, hi = x.min(), x.max()
    if hi <= lo:  # the code divides 0 / 0: NaN, which fails every threshold
        return torch.full_like(x, float('nan'))
    return (x - lo) / (hi - lo)


def normalized_delta(pred: Tensor, gt: Tensor, valid_only: bool = False, min_depth: float = 0.1,
                     floor: float = 1e-3) -> Dict[str, float]:
    """delta_1..3 after min-max normalising ``pred`` and ``gt`` separately, both floored at ``floor``.

    Faithful (``valid_only=False``): over *every* pixel, invalid ground truth (0) included - it sets the
    GT minimum and counts in the mean (the code's ``compute_errors``). ``valid_only=True`` normalises and
    counts only pixels with ``gt > min_depth``. A constant map gives 0 (the code's NaN).
    """
    pred, gt = pred.double().flatten(), gt.double().flatten()
    if valid_only:
        keep = gt > min_depth
        pred, gt = pred[keep], gt[keep]
        if gt.numel() == 0:
            return dict(d1=float('nan'), d2=float('nan'), d3=float('nan'))
    p = _minmax(pred)
    g = _minmax(gt)
    p = torch.where(p < floor, torch.full_like(p, floor), p)  # NaN stays NaN, as in numpy
    g = torch.where(g < floor, torch.full_like(g, floor), g)
    thresh = torch.maximum(g / p, p / g)
    return {f'd{i}': float((thresh < 1.25**i).double().mean()) for i in (1, 2, 3)}


def llm_mde_silog(pred: Tensor, gt: Tensor, min_depth: float = 0.1, lambd: float = 0.85, scale: float = 10.0,
                  var_floor: float = 1e-6) -> float:
    """The code's validation loss: ``scale * sqrt(max(mean d^2 - lambd mean(d)^2, var_floor))`` on gt > 0.1."""
    keep = gt > min_depth
    if not bool(keep.any()):
        return float('nan')
    d = torch.log(pred[keep].double().clamp_min(1e-12)) - torch.log(gt[keep].double())
    return float(scale * torch.sqrt(torch.clamp((d * d).mean() - lambd * d.mean()**2, min=var_floor)))


@METRICS.register_module()
class NormalizedDeltaMetric(BaseMetric):
    """Per-image min-max normalised delta_1-delta_3, averaged over images; no crop, no TTA (docs/llm_mde.md).

    Not comparable with the field's protocol (``DepthEvalMetric``); report both. ``with_silog=True`` also
    reports ``silog_loss``, the code's validation loss (per image, gt > 0.1, lambda 0.85, x10, variance
    floored at 1e-6) that its early stopping monitors. Keys: ``norm_delta/d1``, ``d2``, ``d3``,
    ``silog_loss``, ``nonfinite_pred`` (share of the counted pixels whose prediction is NaN or inf; warned). Reads ``pred_depth_map`` / ``gt_depth_map`` ``(1, H, W)`` of the same size.
    """
    default_prefix: Optional[str] = 'norm_delta'

    def __init__(self, valid_only: bool = False, min_depth: float = 0.1, floor: float = 1e-3,
                 with_silog: bool = True, collect_device: str = 'cpu', prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.valid_only, self.min_depth, self.floor, self.with_silog = valid_only, min_depth, floor, with_silog

    def process(self, data_batch, data_samples: Sequence) -> None:
        for sample in data_samples:
            pred, gt = _field(sample, 'pred_depth_map'), _field(sample, 'gt_depth_map')
            name = _meta(sample, 'img_path', '<image>')
            if pred is None or gt is None:
                raise KeyError(f'NormalizedDeltaMetric needs pred_depth_map and gt_depth_map; {name!r} lacks '
                               f"{'pred_depth_map' if pred is None else 'gt_depth_map'}")
            pred, gt = torch.as_tensor(pred).squeeze().cpu(), torch.as_tensor(gt).squeeze().cpu()
            if pred.shape != gt.shape:
                raise ValueError(f'NormalizedDeltaMetric: {name!r}: prediction {tuple(pred.shape)} and ground '
                                 f'truth {tuple(gt.shape)} differ in size')
            res = normalized_delta(pred, gt, self.valid_only, self.min_depth, self.floor)
            if self.with_silog:
                res['silog_loss'] = llm_mde_silog(pred, gt, self.min_depth)
            counted = gt > self.min_depth if self.valid_only else torch.ones_like(gt, dtype=torch.bool)
            res['_n'], res['_bad'] = int(counted.sum()), int((counted & ~torch.isfinite(pred)).sum())
            res['_name'] = name
            self.results.append(res)

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        out = {}
        logger = MMLogger.get_current_instance()
        n, bad = sum(r.get('_n', 0) for r in results), sum(r.get('_bad', 0) for r in results)
        if bad:
            logger.warning(f'NormalizedDeltaMetric: {bad} of {n} pixels have a non-finite (NaN/inf) prediction, in '
                           f'{[r["_name"] for r in results if r.get("_bad")][:3]}: a NaN min-max normalises the '
                           'whole image to NaN (every delta fails), and its silog_loss is NaN and left out of the '
                           'mean: the model is broken (nonfinite_pred)')
        for key in results[0]:
            if key.startswith('_'):
                continue
            vals = torch.tensor([r[key] for r in results], dtype=torch.float64)
            vals = vals[~torch.isnan(vals)]
            out[key] = float(vals.mean()) if vals.numel() else float('nan')
        out['nonfinite_pred'] = bad / n if n else float('nan')
        logger.info(
            'LLM-MDE normalised metrics (per-image min-max; not the standard protocol): '
            + ', '.join(f'{k}={v:.4f}' for k, v in out.items()))
        return out
