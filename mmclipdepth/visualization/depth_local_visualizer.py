"""One depth picture convention for the demo, the API helpers and the training / test visualisations."""
from typing import Optional

import numpy as np
from mmengine.dist import master_only
from mmseg.registry import VISUALIZERS
from mmseg.visualization import SegLocalVisualizer

from ..apis.depth_outputs import colorize_depth

__all__ = ['DepthLocalVisualizer', 'depth_panels', 'title_band_height']

#: invalid ground truth (no measurement) is painted in this neutral grey
INVALID_RGB = (128, 128, 128)


def _colorbar(height: int, lo: float, hi: float, cmap: str, label: str) -> np.ndarray:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure
    fig = Figure(figsize=(1.1, max(height, 160) / 100.0), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_axes([0.1, 0.05, 0.25, 0.9])
    fig.colorbar(ScalarMappable(norm=Normalize(lo, hi), cmap=cmap), cax=ax, label=label)
    fig.canvas.draw()
    bar = np.asarray(fig.canvas.buffer_rgba())[..., :3]
    if bar.shape[0] != height:
        import cv2
        bar = cv2.resize(bar, (bar.shape[1], height), interpolation=cv2.INTER_AREA)
    return bar


def depth_panels(image: np.ndarray, pred: np.ndarray, gt: Optional[np.ndarray] = None, cmap: str = 'magma_r',
                 vmin: Optional[float] = None, vmax: Optional[float] = None, max_abs_rel: float = 0.5,
                 titles: bool = True) -> np.ndarray:
    """``[image | GT | prediction | abs_rel error]`` (RGB uint8) with colour bars and, with ``titles``, a white band
    of :func:`title_band_height` rows on top naming each panel. GT and prediction share one
    colormap (``magma_r``, near bright, as the demo) and one range (the GT's valid range, else the
    prediction's) with a bar in metres; invalid GT pixels are grey; the error panel is ``|p - g| / g`` on valid
    pixels over [0, ``max_abs_rel``] with its own bar."""
    h, w = pred.shape
    valid = None if gt is None else (np.isfinite(gt) & (gt > 0))
    ref = gt[valid] if gt is not None and valid.any() else pred[np.isfinite(pred) & (pred > 0)]
    lo = float(ref.min()) if vmin is None and ref.size else (vmin if vmin is not None else 0.0)
    hi = float(ref.max()) if vmax is None and ref.size else (vmax if vmax is not None else 1.0)
    hi = max(hi, lo + 1e-6)
    panels = [image[:h, :w] if image.shape[:2] == (h, w) else _resize(image, h, w)]
    names = ['image']
    if gt is not None:
        g = colorize_depth(gt, lo, hi, cmap)
        g[~valid] = INVALID_RGB
        panels.append(g)
        names.append('ground truth')
    panels += [colorize_depth(pred, lo, hi, cmap), _colorbar(h, lo, hi, cmap, 'depth (m)')]
    names += ['prediction', '']
    if gt is not None:
        err = np.zeros_like(pred, dtype=np.float64)
        err[valid] = np.abs(pred[valid] - gt[valid]) / gt[valid]
        e = colorize_depth(np.where(valid, err + 1e-9, 0.0), 1e-9, max_abs_rel, 'inferno')
        e[~valid] = INVALID_RGB
        panels += [e, _colorbar(h, 0.0, max_abs_rel, 'inferno', 'abs rel error')]
        names += ['abs rel error', '']
    strip = np.concatenate(panels, axis=1)
    if not titles:
        return strip
    import cv2
    band = np.full((title_band_height(h), strip.shape[1], 3), 255, np.uint8)
    scale = band.shape[0] / 40.0
    x = 0
    for panel, name in zip(panels, names):
        if name:
            cv2.putText(band, name, (x + 4, int(band.shape[0] * 0.72)), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0),
                        max(1, int(round(scale * 2))), cv2.LINE_AA)
        x += panel.shape[1]
    return np.concatenate([band, strip], axis=0)


def title_band_height(h: int) -> int:
    """Rows of the title band above a strip of height ``h`` (20 at least, 6% of the height)."""
    return max(20, int(round(0.06 * h)))


def _resize(image, h, w):
    import cv2
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)


@VISUALIZERS.register_module()
class DepthLocalVisualizer(SegLocalVisualizer):
    """mmseg's local visualizer for depth samples, drawn with :func:`depth_panels` (same colormap and range for
    GT and prediction, colour bars in metres, invalid GT grey, an abs_rel error panel). Segmentation samples
    fall back to ``SegLocalVisualizer``."""

    def __init__(self, name: str = 'visualizer', cmap: str = 'magma_r', max_abs_rel: float = 0.5, **kwargs):
        super().__init__(name=name, **kwargs)
        self.cmap, self.max_abs_rel = cmap, float(max_abs_rel)

    @master_only
    def add_datasample(self, name, image, data_sample=None, draw_gt=True, draw_pred=True, show=False,
                       wait_time=0, out_file=None, step=0, with_labels=True):
        if data_sample is None or 'pred_depth_map' not in data_sample:
            return super().add_datasample(name, image, data_sample, draw_gt, draw_pred, show, wait_time,
                                          out_file, step, with_labels)
        pred = data_sample.pred_depth_map.data.detach().cpu().numpy()[0].astype(np.float64)
        gt = None
        if draw_gt and 'gt_depth_map' in data_sample:
            gt = data_sample.gt_depth_map.data.detach().cpu().numpy()[0].astype(np.float64)
            if gt.shape != pred.shape:
                gt = None
        drawn = depth_panels(image, pred, gt, self.cmap, max_abs_rel=self.max_abs_rel)
        if show:
            self.show(drawn, win_name=name, wait_time=wait_time)
        if out_file is not None:
            import mmcv
            mmcv.imwrite(mmcv.rgb2bgr(drawn), out_file)
        else:
            self.add_image(name, drawn, step)
