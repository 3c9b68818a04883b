"""The "mirror": a learnable static prompt that replaces CLIP's word embeddings (CLIP2Depth, docs/mirror.md)."""
from typing import Optional

import torch
from mmseg.registry import MODELS
from torch import Tensor, nn

from ..utils.clip_loader import load_clip
from .cached_text_encoder import CachedTextEncoder
from .clip_text_core import CLIPTextCore

__all__ = ['MirrorTextEncoder']


@MODELS.register_module()
class MirrorTextEncoder(CachedTextEncoder):
    """One conditioning vector from a learnable ``s x width`` embedding matrix (Kim et al. 2024, docs/mirror.md).

    The mirror ``M`` (``num_tokens`` = s rows, CLIP's text width columns, N(0, ``init_std``)) *is* the
    whole token-embedding sequence: no start/end token, no word is spliced or concatenated. It goes through
    CLIP's frozen text path (:class:`CLIPTextCore`: + positional embedding -> causal transformer ->
    ln_final -> text projection) and is read at its last position ``s - 1`` (the role of CLIP's EOT
    position), giving one vector ``t`` of the joint embedding width C. Returned as ``(1, C)``; L2-normalised
    when ``normalize`` (CLIP's convention for joint-space features; the paper does not say).

    ``s <= context_length`` (77). While the mirror cannot change (eval, or no grad) the vector is cached,
    keyed on the storage and version counters of the mirror and CLIP's text weights (an optimiser step,
    ``load_state_dict`` or ``.to()`` refreshes it).
    """

    def __init__(self,
                 clip: dict = dict(model_name='RN50', pretrained='openai'),
                 num_tokens: int = 64,
                 init_std: float = 0.02,
                 normalize: bool = True,
                 cache: bool = True,
                 clip_model: Optional[nn.Module] = None):
        super().__init__()
        clip_model = clip_model if clip_model is not None else load_clip(**clip)
        self.core = CLIPTextCore(clip_model)
        self.core.requires_grad_(False)
        if not isinstance(num_tokens, int) or not 1 <= num_tokens <= self.core.context_length:
            raise ValueError(f'MirrorTextEncoder: num_tokens (s) must be an int in [1, '
                             f'{self.core.context_length}] (CLIP context length), got {num_tokens!r}')
        if not init_std > 0:
            raise ValueError(f'MirrorTextEncoder: init_std must be > 0, got {init_std!r}')
        self.num_tokens = num_tokens
        self.normalize = normalize
        self.use_cache = cache
        self.mirror = nn.Parameter(torch.randn(num_tokens, self.core.width) * init_std)
        self.register_buffer('pool_index', torch.tensor([num_tokens - 1]), persistent=False)
        self.embed_dim = self.core.embed_dim

    def encode(self) -> Tensor:
        """Uncached conditioning vector (1, C)."""
        feat = self.core(self.mirror.unsqueeze(0), self.pool_index)
        if self.normalize:
            feat = feat / feat.norm(dim=-1, keepdim=True)
        return feat

    def learnable_tensors(self):
        return [self.mirror]
