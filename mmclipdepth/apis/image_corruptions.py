"""Image corruptions at graded severity for tools/analysis/prompt_robustness.py (the image side, for comparison).

RoboDepth (Kong et al., NeurIPS 2023 datasets track; NYU-C / KITTI-C) grades corruptions by five severity levels,
taking most of them from ImageNet-C (Hendrycks & Dietterich, ICLR 2019). The severity parameters below are
ImageNet-C's published ones where RoboDepth uses them (brightness, Gaussian noise, defocus blur, JPEG quality,
fog strength); the implementations are this project's own:

- ``brightness``: ``c`` = 0.1 .. 0.5 added to HSV value. With hue and saturation kept, every channel scales by
  ``min(V + c, 1) / V`` (V = max over channels), which is what the HSV round trip does.
- ``dark``: a low-light image: intensity times ``k`` = 0.6 .. 0.2, then shot noise (Poisson, photons per unit
  intensity 60 .. 20) and read noise (Gaussian, sigma 0.01 .. 0.03). RoboDepth's own low-light simulation is not
  reproduced exactly; this is a documented stand-in with the same direction (darker, noisier).
- ``fog``: ``x + c0 * F`` rescaled by ``max / (max + c0)``, with ``c0`` = 1.5 .. 3 and ``F`` a seeded smooth
  fractal field in [0, 1] (octaves of bilinearly upsampled noise, amplitude ``decay ** octave``, ``decay`` =
  ImageNet-C's 2 .. 1.4 wibble decay mapped to 1 / decay); our field, not ImageNet-C's diamond-square one.
- ``noise``: Gaussian, sigma 0.08 .. 0.38 of the [0, 1] range.
- ``blur``: defocus: a disk of radius 3 .. 10 px smoothed by a Gaussian of sigma 0.1 .. 0.5.
- ``jpeg``: JPEG at quality 25, 18, 15, 10, 7 (PIL).

Every function takes a float32 HxWx3 image in [0, 1], an int severity 1..5 and a ``numpy.random.Generator``, and
returns the corrupted image in [0, 1]; channel order does not matter (none mixes channels except JPEG's chroma,
which the caller feeds RGB).
"""
import io

import numpy as np

__all__ = ['CORRUPTIONS', 'corrupt', 'brightness', 'dark', 'fog', 'noise', 'blur', 'jpeg']

BRIGHTNESS = (0.1, 0.2, 0.3, 0.4, 0.5)
DARK = ((0.6, 60.0, 0.01), (0.5, 45.0, 0.015), (0.4, 35.0, 0.02), (0.3, 25.0, 0.025), (0.2, 20.0, 0.03))
FOG = ((1.5, 2.0), (2.0, 2.0), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4))
NOISE = (0.08, 0.12, 0.18, 0.26, 0.38)
BLUR = ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5))
JPEG = (25, 18, 15, 10, 7)


def _level(table, severity):
    s = int(severity)
    if not 1 <= s <= len(table) or s != severity:
        raise ValueError(f'corruption severity must be an integer in 1..{len(table)}, got {severity!r}')
    return table[s - 1]


def brightness(x: np.ndarray, severity: int, rng=None) -> np.ndarray:
    c = _level(BRIGHTNESS, severity)
    v = x.max(axis=2, keepdims=True)
    gain = np.where(v > 0, np.minimum(v + c, 1.0) / np.maximum(v, 1e-12), 0.0)
    out = x * gain
    # black pixels (V = 0) have no hue: HSV gives grey at value c
    out = np.where(v > 0, out, np.float32(min(c, 1.0)))
    return np.clip(out, 0, 1).astype(np.float32)


def dark(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    k, photons, read = _level(DARK, severity)
    y = x * k
    y = rng.poisson(y * photons).astype(np.float32) / photons
    y = y + rng.normal(0.0, read, size=y.shape).astype(np.float32)
    return np.clip(y, 0, 1).astype(np.float32)


def _fractal(h: int, w: int, decay: float, rng: np.random.Generator) -> np.ndarray:
    import cv2
    field = np.zeros((h, w), np.float32)
    size, amp = 2, 1.0
    while size < 2 * max(h, w):
        grid = rng.random((size, size)).astype(np.float32)
        field += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_LINEAR)
        size, amp = size * 2, amp / decay
    field -= field.min()
    return field / max(float(field.max()), 1e-12)


def fog(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c0, decay = _level(FOG, severity)
    peak = float(x.max())
    y = x + c0 * _fractal(x.shape[0], x.shape[1], decay, rng)[..., None]
    return np.clip(y * peak / (peak + c0), 0, 1).astype(np.float32)


def noise(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    sigma = _level(NOISE, severity)
    return np.clip(x + rng.normal(0.0, sigma, size=x.shape), 0, 1).astype(np.float32)


def disk_kernel(radius: int, alias_sigma: float) -> np.ndarray:
    import cv2
    r = int(radius)
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    k = ((xx ** 2 + yy ** 2) <= r ** 2).astype(np.float32)
    k = cv2.GaussianBlur(k, (3, 3), sigmaX=alias_sigma)  # (the reflected border changes the sum)
    return k / k.sum()


def blur(x: np.ndarray, severity: int, rng=None) -> np.ndarray:
    import cv2
    radius, alias = _level(BLUR, severity)
    k = disk_kernel(radius, alias)
    return np.clip(cv2.filter2D(x, -1, k, borderType=cv2.BORDER_REFLECT), 0, 1).astype(np.float32)


def jpeg(x: np.ndarray, severity: int, rng=None) -> np.ndarray:
    from PIL import Image
    quality = _level(JPEG, severity)
    buf = io.BytesIO()
    Image.fromarray(np.round(x * 255).astype(np.uint8)).save(buf, 'JPEG', quality=quality)
    buf.seek(0)
    return np.asarray(Image.open(buf).convert('RGB'), np.float32) / 255.0


CORRUPTIONS = dict(brightness=brightness, dark=dark, fog=fog, noise=noise, blur=blur, jpeg=jpeg)


def corrupt(img_u8: np.ndarray, name: str, severity: int, rng: np.random.Generator) -> np.ndarray:
    """uint8 HxWx3 (RGB) -> corrupted uint8 HxWx3."""
    if name not in CORRUPTIONS:
        raise KeyError(f'unknown corruption {name!r}; expected one of {list(CORRUPTIONS)}')
    out = CORRUPTIONS[name](img_u8.astype(np.float32) / 255.0, severity, rng)
    return np.round(np.clip(out, 0, 1) * 255).astype(np.uint8)
