"""Cross-modal reprogramming: image tokens attend to text prototypes of the LLM vocabulary (docs/llm_mde.md, Eq. 1)."""
import math
from typing import Optional

import torch
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor, nn

__all__ = ['CrossModalReprogramming']


@MODELS.register_module()
class CrossModalReprogramming(BaseModule):
    """Multi-head cross-attention from image tokens (queries) to text prototypes (keys / values).

    Prototypes ``E' = (Linear(V -> S) applied over the word-embedding table E^T)^T`` (S x d_llm, S = 1000),
    ``Q = x W_q``, ``K = E' W_k`` split in ``num_heads`` heads of ``d_keys`` each, ``softmax(Q K^T / sqrt(d_keys))``
    (with ``attention_dropout``) times the values, heads concatenated, ``Linear(num_heads * d_keys -> d_llm)``.
    The authors' code uses 24 heads of ``d_keys = d_model = 768`` and takes the values from the *key*
    projection (``value_from='key'``, faithful; it builds a value projection it never uses, which is not
    built here). ``value_from='value'`` uses a separate value projection (paper Eq. 1, corrected).

    ``d_model`` / ``d_llm`` / ``vocab_size`` may be left None for ``LLMDepthEstimator`` to fill in.
    """

    def __init__(self,
                 d_model: Optional[int] = None,
                 d_llm: Optional[int] = None,
                 vocab_size: Optional[int] = None,
                 num_prototypes: int = 1000,
                 num_heads: int = 24,
                 d_keys: Optional[int] = 768,
                 attention_dropout: float = 0.1,
                 value_from: str = 'key',
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if value_from not in ('key', 'value'):
            raise ValueError(f"CrossModalReprogramming: value_from must be 'key' or 'value', got {value_from!r}")
        for name, v in (('d_model', d_model), ('d_llm', d_llm), ('vocab_size', vocab_size)):
            if v is None or int(v) <= 0:
                raise ValueError(f'CrossModalReprogramming: {name} must be a positive int, got {v!r}')
        d_keys = d_keys or d_model // num_heads
        self.num_heads, self.d_keys, self.value_from = num_heads, d_keys, value_from
        self.mapping_layer = nn.Linear(vocab_size, num_prototypes)
        self.query_projection = nn.Linear(d_model, d_keys * num_heads)
        self.key_projection = nn.Linear(d_llm, d_keys * num_heads)
        self.value_projection = nn.Linear(d_llm, d_keys * num_heads) if value_from == 'value' else None
        self.out_projection = nn.Linear(d_keys * num_heads, d_llm)
        self.dropout = nn.Dropout(attention_dropout)

    def prototypes(self, word_embeddings: Tensor) -> Tensor:
        """(V, d_llm) word-embedding table -> (S, d_llm) text prototypes."""
        return self.mapping_layer(word_embeddings.t()).t()

    def forward(self, x: Tensor, word_embeddings: Tensor) -> Tensor:
        """(B, L, d_model) image tokens, (V, d_llm) embedding table -> (B, L, d_llm)."""
        B, L, _ = x.shape
        H = self.num_heads
        source = self.prototypes(word_embeddings.to(x.dtype))
        S = source.shape[0]
        q = self.query_projection(x).view(B, L, H, -1)
        k = self.key_projection(source).view(S, H, -1)
        v = k if self.value_projection is None else self.value_projection(source).view(S, H, -1)
        scores = torch.einsum('blhe,she->bhls', q, k) / math.sqrt(q.shape[-1])
        attn = self.dropout(torch.softmax(scores, dim=-1))
        out = torch.einsum('bhls,she->blhe', attn, v).reshape(B, L, -1)
        return self.out_projection(out)
