"""BTS/AdaBins photometric augmentation: gamma, brightness, per-channel colour (docs/fidelity.md "Training")."""
from typing import Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmseg.registry import TRANSFORMS


def _range(name: str, value: Sequence[float]) -> tuple:
    if len(value) != 2 or not 0 < value[0] <= value[1]:
        raise ValueError(f'{name} must be (low, high) with 0 < low <= high, got {value!r}')
    return float(value[0]), float(value[1])


@TRANSFORMS.register_module()
class RandomGammaBrightnessColor(BaseTransform):
    """With probability ``prob``: ``clip(x ** gamma * brightness * colour[c], 0, 1)`` on x = img/255.

    The BTS/AdaBins ``augment_image``: gamma ~ U(0.9, 1.1); brightness ~ U(0.75, 1.25) for NYU,
    U(0.9, 1.1) for KITTI; one factor per channel ~ U(0.9, 1.1); then clip to [0, 1]; applied with
    probability 0.5. The maths is done on the image scaled to [0, 1] (float32) and the result is
    returned as **float32 in 0-255** (always, augmented or not, so a batch has one dtype), ready for
    the data preprocessor's 0-255 mean/std.

    Channel order: mmcv loads BGR, so ``colour[0]`` multiplies B (AdaBins' ``colors[0]`` multiplies
    R). The three factors are i.i.d., so the augmentation's distribution is the same either way.
    The drawn values are recorded in ``results['photometric_aug']`` (``None`` when not applied).

    Args:
        prob (float): probability of augmenting (0.5).
        gamma_range, brightness_range, color_range (tuple): U(low, high) ranges.
    """

    def __init__(self,
                 prob: float = 0.5,
                 gamma_range: Sequence[float] = (0.9, 1.1),
                 brightness_range: Sequence[float] = (0.75, 1.25),
                 color_range: Sequence[float] = (0.9, 1.1)) -> None:
        super().__init__()
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f'prob must be in [0, 1], got {prob!r}')
        self.prob = float(prob)
        self.gamma_range = _range('gamma_range', gamma_range)
        self.brightness_range = _range('brightness_range', brightness_range)
        self.color_range = _range('color_range', color_range)

    @cache_randomness
    def _draw(self):
        if not np.random.rand() < self.prob:
            return None
        gamma = np.random.uniform(*self.gamma_range)
        brightness = np.random.uniform(*self.brightness_range)
        colors = np.random.uniform(*self.color_range, size=3)
        return dict(gamma=float(gamma), brightness=float(brightness), color=colors.astype(np.float32))

    def transform(self, results: dict) -> dict:
        img = results['img'].astype(np.float32) / np.float32(255.0)
        params = self._draw()
        if params is not None:
            if img.ndim != 3 or img.shape[2] != 3:
                raise ValueError(f'RandomGammaBrightnessColor needs an HxWx3 image, got '
                                 f'{img.shape} ({results.get("img_path")!r})')
            img = img ** np.float32(params['gamma'])
            img = img * np.float32(params['brightness'])
            img = img * params['color'][None, None, :]
            img = np.clip(img, 0.0, 1.0)
        results['img'] = (img * np.float32(255.0)).astype(np.float32)
        results['photometric_aug'] = params
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(prob={self.prob}, gamma_range={self.gamma_range}, '
                f'brightness_range={self.brightness_range}, color_range={self.color_range})')
