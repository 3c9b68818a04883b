"""DepthCLIP (Zhang et al. 2022) / Auty & Mikolajczyk (2023) depth from CLIP features, written plainly.

Follows the authors' files: DepthCLIP ``monoclip.py`` (``zeroshot_classifier``, ``MonoCLIP.forward``) and
Auty's ``modules/DepthCLIP.py`` (``get_language_features``, ``forward``), ``losses/SILogLoss.py``:
per-position L2 over the layer4 channels, nearest interpolation along channels to the text width (keep every
r-th channel), ``100 <f, t> / temperature``, softmax over bins, sum of bin centres; text features L2 per prompt
(DepthCLIP) and then divided by the matrix's Frobenius norm (Auty). Inputs are plain tensors.
"""
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .reference_clip import reference_image_trunk, reference_text_features

__all__ = ['reference_prompt_features', 'reference_bin_depth', 'reference_depth', 'reference_silog']


def reference_prompt_features(sd: Dict[str, Tensor], texts: Sequence[str], heads: int,
                              learned: Optional[List[Tensor]] = None, norm: str = 'auty_frobenius',
                              activation: str = 'quick_gelu') -> Tensor:
    """(N, C) normalised text features of N prompts (``x`` marks a learned vector, see
    :func:`reference_text_features`)."""
    t = reference_text_features(sd, texts, heads, learned, activation=activation)
    t = t / t.norm(dim=-1, keepdim=True)
    if norm == 'auty_frobenius':
        t = t / t.norm()
    elif norm != 'depthclip':
        raise ValueError(norm)
    return t


def reference_bin_depth(layer4: Tensor, text: Tensor, centres: Sequence[float], logit_scale: float = 100.0,
                        temperature: float = 0.1) -> Tensor:
    """Raw layer4 map (N, C4, h, w) and text features (K, C) -> depth (N, 1, h, w) at the feature resolution."""
    n, c4, h, w = layer4.shape
    c = text.shape[1]
    if c4 % c:
        raise ValueError(f'{c4} image channels cannot be reduced to {c} by keeping every r-th channel')
    f = layer4.flatten(2).transpose(1, 2)  # (N, hw, C4)
    f = f / f.norm(dim=-1, keepdim=True)
    f = f[..., ::c4 // c]  # nearest interpolation by an integer factor keeps channels 0, r, 2r, ...
    logits = logit_scale * (f @ text.t()) / temperature  # (N, hw, K)
    p = logits.softmax(dim=-1)
    d = p @ torch.as_tensor(centres, dtype=p.dtype)
    return d.reshape(n, 1, h, w)


def reference_depth(sd: Dict[str, Tensor], images: Tensor, text: Tensor, centres: Sequence[float],
                    out_hw, min_depth: float, max_depth: float, flip: bool = True, bn_train: bool = False,
                    stats: Optional[dict] = None) -> Tensor:
    """Full-resolution depth: optional flip TTA averaged at low resolution, bilinear ``align_corners=True``
    upsampling to ``out_hw``, clamp to ``[min_depth, max_depth]``."""
    d = reference_bin_depth(reference_image_trunk(sd, images, bn_train, stats), text, centres)
    if flip:
        d = (d + reference_bin_depth(reference_image_trunk(sd, images.flip(3), bn_train, stats), text,
                                     centres).flip(3)) / 2
    d = F.interpolate(d, size=tuple(out_hw), mode='bilinear', align_corners=True)
    return d.clamp(min_depth, max_depth)


def reference_silog(pred: Tensor, gt: Tensor, min_depth: float = 1e-3, lambd: float = 0.85,
                    scale: float = 10.0, variance_eps: float = 0.0) -> Tensor:
    """AdaBins-form SILog pooled over every valid pixel of the batch (valid: gt > min_depth):
    ``scale * sqrt(mean g^2 - lambd mean(g)^2)``, g = log pred - log gt (the variance clamped at
    ``variance_eps`` first, as LLM-MDE's training code does with 1e-6)."""
    valid = gt > min_depth
    g = torch.log(pred[valid]) - torch.log(gt[valid])
    var = (g ** 2).mean() - lambd * g.mean() ** 2
    return scale * torch.sqrt(var.clamp_min(variance_eps) if variance_eps > 0 else var)
