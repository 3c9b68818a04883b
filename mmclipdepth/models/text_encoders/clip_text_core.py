"""The frozen CLIP text path applied to *embedding* sequences (shared by every prompt learner)."""
import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ['CLIPTextCore']


class CLIPTextCore(nn.Module):
    """CLIP's text tower from token embeddings onwards (docs/fidelity.md "Text side").

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

    @property
    def can_share_prefix(self) -> bool:
        """Whether :meth:`forward_shared_prefix` applies: a causal mask and open_clip's standard blocks
        (pre-LN, ``nn.MultiheadAttention`` with a packed q/k/v projection, batch-first)."""
        from open_clip.transformer import ResidualAttentionBlock
        mask = self.attn_mask
        if mask is None or not getattr(self.transformer, 'batch_first', True):
            return False
        causal = torch.ones_like(mask, dtype=torch.bool).triu(1)
        if not torch.equal(torch.isinf(mask) & (mask < 0), causal) or bool(mask[~causal].any()):
            return False
        return all(type(b) is ResidualAttentionBlock and b.attn.batch_first and b.attn.in_proj_weight is not None
                   and not hasattr(b, 'ln_1_kv') for b in self.transformer.resblocks)

    def forward_shared_prefix(self, prefix: Tensor, suffix: Tensor, pool_index: Tensor) -> Tensor:
        """``forward`` for prompts that all start with the same ``Lp`` embeddings, computing that prefix once.

        ``prefix`` (1, Lp, D) is the common start, ``suffix`` (P, Ls, D) the rest of each prompt, ``pool_index``
        (P,) the position to read *within the suffix*. The mask is causal, so the prefix positions never see the
        suffix: their keys and values are computed once and every suffix position attends to them and,
        causally, to its own prompt's suffix. Same maths as ``forward`` on the concatenation (equal up to float
        rounding); the transformer runs on ``Lp + P * Ls`` positions instead of ``P * (Lp + Ls)``.
        """
        if prefix.dim() != 3 or prefix.shape[0] != 1 or suffix.dim() != 3 or suffix.shape[-1] != self.width:
            raise ValueError(f'prefix must be (1, Lp, {self.width}) and suffix (P, Ls, {self.width}); got '
                             f'{tuple(prefix.shape)} and {tuple(suffix.shape)}')
        lp, ls, num = prefix.shape[1], suffix.shape[1], suffix.shape[0]
        if lp + ls > self.context_length:
            raise ValueError(f'prompt length {lp + ls} exceeds CLIP context length {self.context_length}')
        cast_dtype = self.transformer.get_cast_dtype()
        pos = self.positional_embedding.to(cast_dtype)
        xp = prefix.to(cast_dtype) + pos[:lp]
        xs = suffix.to(cast_dtype) + pos[lp:lp + ls]
        # suffix row i sits at position lp + i: it sees every prefix position and suffix positions <= i
        mask = torch.ones(ls, lp + ls, dtype=torch.bool, device=xs.device).tril(lp)
        for blk in self.transformer.resblocks:
            attn = blk.attn
            heads, dim = attn.num_heads, xp.shape[-1]

            def split(t):  # (B, L, D) -> (B, H, L, D / H)
                return t.unflatten(-1, (heads, dim // heads)).transpose(1, 2)

            qp, kp, vp = F.linear(blk.ln_1(xp), attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
            qs, ks, vs = F.linear(blk.ln_1(xs), attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
            kp, vp = split(kp), split(vp)
            op = F.scaled_dot_product_attention(split(qp), kp, vp, is_causal=True)
            k = torch.cat([kp.expand(num, -1, -1, -1), split(ks)], dim=2)
            v = torch.cat([vp.expand(num, -1, -1, -1), split(vs)], dim=2)
            os_ = F.scaled_dot_product_attention(split(qs), k, v, attn_mask=mask)
            xp = xp + blk.ls_1(attn.out_proj(op.transpose(1, 2).flatten(2)))
            xs = xs + blk.ls_1(attn.out_proj(os_.transpose(1, 2).flatten(2)))
            xp = xp + blk.ls_2(blk.mlp(blk.ln_2(xp)))
            xs = xs + blk.ls_2(blk.mlp(blk.ln_2(xs)))
        x = self.ln_final(xs[torch.arange(num, device=xs.device), pool_index.to(xs.device)])
        if self.text_projection is not None:
            x = x @ self.text_projection
        elif self.text_projection_layer is not None:
            x = self.text_projection_layer(x)
        return x
