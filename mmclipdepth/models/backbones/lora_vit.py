"""timm ViT with LoRA on the attention q/v projections (LLM-MDE vision encoder, docs/llm_mde.md / paper §II-D)."""
import re
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor, nn

from ..utils.pretrained import timm_model

__all__ = ['LoRAViT', 'SplitQKV']

_TOKEN_SELECT = ('drop_last_patch', 'drop_cls', 'all')


class SplitQKV(nn.Module):
    """timm's fused ``qkv`` Linear as three Linears ``q``, ``k``, ``v``; ``forward`` = ``cat([q, k, v], -1)``.

    Bit-for-bit the same output as the fused layer (its weight rows are ``[W_q; W_k; W_v]``). Splitting lets
    ``peft`` put standard LoRA on ``q`` and ``v`` only, which is what the authors' ``_LoRA_qkv_timm`` does by
    adding ``B_q A_q x`` / ``B_v A_v x`` to the first / last third of the fused output (docs/llm_mde.md).
    """

    def __init__(self, qkv: nn.Linear):
        super().__init__()
        dim_in, dim_out = qkv.in_features, qkv.out_features
        if dim_out % 3:
            raise ValueError(f'SplitQKV: fused qkv out_features={dim_out} is not divisible by 3')
        d = dim_out // 3
        bias = qkv.bias is not None
        self.q, self.k, self.v = (nn.Linear(dim_in, d, bias=bias) for _ in range(3))
        with torch.no_grad():
            for i, lin in enumerate((self.q, self.k, self.v)):
                lin.weight.copy_(qkv.weight[i * d:(i + 1) * d])
                lin.weight.requires_grad_(qkv.weight.requires_grad)
                if bias:
                    lin.bias.copy_(qkv.bias[i * d:(i + 1) * d])
                    lin.bias.requires_grad_(qkv.bias.requires_grad)
        self.in_features, self.out_features = dim_in, dim_out

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.q(x), self.k(x), self.v(x)], dim=-1)


@MODELS.register_module()
class LoRAViT(BaseModule):
    """Frozen timm ViT + LoRA (``peft``) on the attention q and v projections; returns patch tokens.

    docs/llm_mde.md: ViT-B/16 (``vit_base_patch16_224``), the input (any size, already normalised) resized
    bilinearly to ``input_size`` x ``input_size`` (224), LoRA rank 160 / alpha 320 on q and v of every block,
    base frozen. ``forward_features`` (after the final norm) gives ``[CLS] + 196`` tokens; the authors' code
    keeps 196 by dropping the *last patch* (``token_select='drop_last_patch'``, faithful) instead of the CLS
    token (``'drop_cls'``, corrected); ``'all'`` keeps every token.

    timm fuses q/k/v into one ``qkv`` Linear, and ``peft`` LoRA adapts whole Linear layers, so every
    adapted block's ``qkv`` is replaced by :class:`SplitQKV` (identical output) and ``peft`` injects standard
    LoRA into its ``q`` / ``v`` children: ``h = W x + (alpha / r) B A x`` with A Kaiming-uniform, B zero,
    exactly the authors' update (their scale is ``alpha // r``, equal for every setting in the paper).
    Any other Linear name in the blocks (``proj``, ``fc1``, ``fc2``) may be targeted too.

    Args:
        model_name: timm model name. pretrained: False, True (hub cache / download) or a local weights file.
        lora_rank: 0 disables LoRA (fully frozen ViT, the paper's "Frozen ViT" ablation).
        lora_targets: Linear names inside the blocks; ``q``, ``k``, ``v`` address the split qkv.
        lora_layers: block indices to adapt (None = all).
        input_size: resize target (None = the model's ``img_size``).
        local_files_only: never download (only the hub cache or a file path).
    """

    def __init__(self,
                 model_name: str = 'vit_base_patch16_224',
                 pretrained: Union[bool, str] = True,
                 model_kwargs: Optional[dict] = None,
                 lora_rank: int = 160,
                 lora_alpha: float = 320,
                 lora_targets: Sequence[str] = ('q', 'v'),
                 lora_layers: Optional[Sequence[int]] = None,
                 lora_dropout: float = 0.0,
                 token_select: str = 'drop_last_patch',
                 input_size: Optional[int] = 224,
                 cache_dir: Optional[str] = None,
                 local_files_only: bool = False,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if token_select not in _TOKEN_SELECT:
            raise ValueError(f'LoRAViT: token_select must be one of {_TOKEN_SELECT}, got {token_select!r}')
        if lora_rank < 0:
            raise ValueError(f'LoRAViT: lora_rank must be >= 0, got {lora_rank}')
        kwargs = dict(num_classes=0)
        kwargs.update(model_kwargs or {})
        vit = timm_model(model_name, pretrained, cache_dir=cache_dir, local_files_only=local_files_only,
                         what='LoRAViT', **kwargs)
        if not hasattr(vit, 'blocks') or not hasattr(vit, 'forward_features'):
            raise ValueError(f'LoRAViT: {model_name!r} is not a timm VisionTransformer-like model')
        vit.requires_grad_(False)
        vit.is_init = True  # mmengine must never call timm's init_weights (it would re-draw the weights)
        self.token_select = token_select
        self.embed_dim = vit.embed_dim
        self.num_prefix_tokens = getattr(vit, 'num_prefix_tokens', 1)
        img_size = vit.patch_embed.img_size
        self.input_size = tuple(img_size) if input_size is None else (int(input_size), int(input_size))
        self.lora_targets = tuple(lora_targets)
        self.lora_rank = lora_rank
        if lora_rank > 0:
            n = len(vit.blocks)
            layers = list(range(n)) if lora_layers is None else [int(i) for i in lora_layers]
            if any(not 0 <= i < n for i in layers):
                raise ValueError(f'LoRAViT: lora_layers {layers} out of range for {n} blocks')
            split = any(t in ('q', 'k', 'v') for t in self.lora_targets)
            if split:
                for i in layers:
                    attn = vit.blocks[i].attn
                    if not isinstance(getattr(attn, 'qkv', None), nn.Linear):
                        raise ValueError(f'LoRAViT: block {i} has no fused qkv Linear to split')
                    attn.qkv = SplitQKV(attn.qkv)
            names = []
            for name, mod in vit.named_modules():
                m = re.match(r'blocks\.(\d+)\.(.+)$', name)
                if m is None or int(m.group(1)) not in layers or not isinstance(mod, nn.Linear):
                    continue
                if name.rsplit('.', 1)[-1] in self.lora_targets:
                    names.append(name)
            if not names:
                raise ValueError(f'LoRAViT: lora_targets {self.lora_targets} match no Linear in the blocks')
            from peft import LoraConfig, inject_adapter_in_model
            cfg = LoraConfig(r=lora_rank, lora_alpha=lora_alpha, lora_dropout=lora_dropout,
                             target_modules=names, bias='none')
            vit = inject_adapter_in_model(cfg, vit)
        self.vit = vit

    def forward(self, x: Tensor) -> Tuple[Tensor]:
        """(N, 3, H, W) normalised image -> ``((N, L, C) tokens,)``."""
        if tuple(x.shape[-2:]) != self.input_size:
            x = F.interpolate(x, size=self.input_size, mode='bilinear', align_corners=False)
        feats = self.vit.forward_features(x)
        if self.token_select == 'drop_last_patch':
            feats = feats[:, :-1]
        elif self.token_select == 'drop_cls':
            feats = feats[:, self.num_prefix_tokens:]
        return (feats, )
