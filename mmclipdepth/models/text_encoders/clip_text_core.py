"""The frozen CLIP text path applied to *embedding* sequences (shared by every prompt learner)."""
import torch
from torch import Tensor, nn

__all__ = ['CLIPTextCore']


class CLIPTextCore(nn.Module):
    """CLIP's text tower from token embeddings onwards (SPEC §1 "Text side").

    ``forward(embeds, pool_index)`` = ``+ positional embedding -> causal transformer -> ln_final ->
    row pool_index -> text projection``, exactly ``CLIP.encode_text`` but on embeddings, so learned
    vectors can be spliced in (CoOp / Auty et al. §3) or replace the words entirely (CLIP2Depth mirror).
    Because the mask is causal and the feature is read at ``pool_index``, only the first
    ``max(pool_index) + 1`` positions are encoded: positions after it cannot change the result.
    The modules are CLIP's own (shared, frozen), not copies.
    """

    def __init__(self, clip_model: nn.Module):
        super().__init__()
        for name in ('token_embedding', 'transformer', 'ln_final'):
            if not hasattr(clip_model, name):
                raise TypeError(f'CLIPTextCore needs an open_clip CLIP with a built-in text tower '
                                f'(attribute {name!r} missing on {type(clip_model).__name__}).')
        self.token_embedding = clip_model.token_embedding
        self.transformer = clip_model.transformer
        self.ln_final = clip_model.ln_final
        self.positional_embedding = clip_model.positional_embedding
        proj = clip_model.text_projection
        if isinstance(proj, nn.Parameter):
            self.text_projection = proj
        else:  # nn.Linear or None
            self.text_projection_layer = proj
            self.text_projection = None
        self.register_buffer('attn_mask', clip_model.attn_mask, persistent=False)
        self.width = self.token_embedding.embedding_dim
        self.context_length = self.positional_embedding.shape[0]
        if self.text_projection is not None:
            self.embed_dim = self.text_projection.shape[1]
        elif proj is not None:
            self.embed_dim = proj.out_features
        else:
            self.embed_dim = self.width

    def embed_ids(self, ids: Tensor) -> Tensor:
        """Token ids (P, L) -> token embeddings (P, L, D)."""
        return self.token_embedding(ids)

    def forward(self, embeds: Tensor, pool_index: Tensor, truncate: bool = True) -> Tensor:
        """Embeddings (P, L, D) and the position to read per prompt (P,) -> text features (P, C)."""
        if embeds.dim() != 3 or embeds.shape[-1] != self.width:
            raise ValueError(f'embeds must be (P, L, {self.width}); got {tuple(embeds.shape)}')
        num, length = embeds.shape[:2]
        if length > self.context_length:
            raise ValueError(f'prompt length {length} exceeds CLIP context length {self.context_length}')
        if truncate:
            length = int(pool_index.max()) + 1
            embeds = embeds[:, :length]
        cast_dtype = self.transformer.get_cast_dtype()
        x = embeds.to(cast_dtype) + self.positional_embedding[:length].to(cast_dtype)
        mask = self.attn_mask[:length, :length] if self.attn_mask is not None else None
        x = self.transformer(x, attn_mask=mask)
        x = self.ln_final(x)
        x = x[torch.arange(num, device=x.device), pool_index.to(x.device)]
        if self.text_projection is not None:
            x = x @ self.text_projection
        elif self.text_projection_layer is not None:
            x = self.text_projection_layer(x)
        return x
