"""CutDepth-style paste of ground-truth depth into the image, as LLM-MDE's NYU loader does (docs/llm_mde.md)."""
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmseg.registry import TRANSFORMS

__all__ = ['CutDepthPaste']


@TRANSFORMS.register_module()
class CutDepthPaste(BaseTransform):
    """With probability ``prob`` replace a random rectangle of the image by the depth (metres x ``scale``).

    The authors' loader (every NYU training sample): ``a, b, c, d ~ U(0, 1)``, ``l = int(a W)``,
    ``u = int(b H)``, ``w = int(max((W - a W) c 0.75, 1))``, ``h = int(max((H - b H) d 0.75, 1))`` and pastes
    rows ``l:l+h``, columns ``u:u+w`` - the x-derived offset indexes rows (``swap_axes=True``, faithful; the
    rectangle is clipped by the frame, empty when ``l >= H``); ``swap_axes=False`` uses rows ``u:u+h``,
    columns ``l:l+w``. Their image is RGB in [0, 1] and the pasted value is the depth in metres, so here
    (image in 0-255) the value is ``depth * 255`` (``scale``), in all three channels. Output image float32.
    """

    def __init__(self, prob: float = 1.0, swap_axes: bool = True, scale: float = 255.0) -> None:
        super().__init__()
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f'CutDepthPaste: prob must be in [0, 1], got {prob!r}')
        self.prob, self.swap_axes, self.scale = float(prob), bool(swap_axes), float(scale)

    @cache_randomness
    def _draw(self):
        if not np.random.rand() < self.prob:
            return None
        return np.random.uniform(0.0, 1.0, size=4)

    def transform(self, results: dict) -> dict:
        img = results['img'].astype(np.float32)
        params = self._draw()
        if params is not None:
            depth = results['gt_depth_map']
            H, W = img.shape[:2]
            if depth.shape[:2] != (H, W):
                raise ValueError(f'CutDepthPaste: depth {depth.shape[:2]} and image {(H, W)} differ in size '
                                 f'({results.get("img_path")!r})')
            a, b, c, d = (float(v) for v in params)
            l, u = int(a * W), int(b * H)
            w, h = int(max((W - a * W) * c * 0.75, 1)), int(max((H - b * H) * d * 0.75, 1))
            rows, cols = (slice(l, l + h), slice(u, u + w)) if self.swap_axes else (slice(u, u + h), slice(l, l + w))
            img[rows, cols, :] = depth[rows, cols, None].astype(np.float32) * np.float32(self.scale)
        results['img'] = img
        results['cut_depth'] = None if params is None else [float(v) for v in params]
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(prob={self.prob}, swap_axes={self.swap_axes}, scale={self.scale})'
