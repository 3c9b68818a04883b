"""OpenAI CLIP's text tower and ModifiedResNet image trunk as plain functions of a state dict.

Written from OpenAI's ``clip/model.py`` architecture (Radford et al. 2021): pre-LN residual attention blocks
``x + attn(ln_1(x))``, ``x + mlp(ln_2(x))`` with QuickGELU ``x * sigmoid(1.702 x)``, a causal mask, final
LayerNorm, the feature read at the end-of-text token (the largest token id, ``argmax``), the text projection;
the image trunk: a 3-conv stem with average pooling and Bottleneck blocks that anti-alias by average pooling
before the last 1x1 conv (and in the shortcut). Only ``torch.nn.functional`` on the tensors of ``state_dict``.
"""
import math
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ['reference_tokenize', 'reference_text_tower', 'reference_text_features', 'reference_image_trunk']

SOT, EOT = 49406, 49407


def reference_tokenize(texts: Sequence[str], context_length: int = 77) -> Tensor:
    """CLIP BPE: ``[SOT] + bpe(text) + [EOT]`` zero-padded to ``context_length`` (OpenAI ``clip.tokenize``)."""
    from open_clip.tokenizer import SimpleTokenizer  # the BPE vocabulary file ships with open_clip
    bpe = SimpleTokenizer()
    out = torch.zeros(len(texts), context_length, dtype=torch.long)
    for i, text in enumerate(texts):
        ids = [SOT] + bpe.encode(text) + [EOT]
        if len(ids) > context_length:
            raise ValueError(f'{text!r} has {len(ids)} tokens > {context_length}')
        out[i, :len(ids)] = torch.tensor(ids)
    return out


def _ln(x: Tensor, sd: Dict[str, Tensor], name: str) -> Tensor:
    return F.layer_norm(x, x.shape[-1:], sd[name + '.weight'], sd[name + '.bias'], eps=1e-5)


def _attention(x: Tensor, sd: Dict[str, Tensor], p: str, heads: int, mask: Tensor) -> Tensor:
    n, length, width = x.shape
    qkv = x @ sd[p + 'in_proj_weight'].t() + sd[p + 'in_proj_bias']
    q, k, v = qkv.split(width, dim=-1)
    dh = width // heads
    q, k, v = (t.reshape(n, length, heads, dh).transpose(1, 2) for t in (q, k, v))
    att = (q @ k.transpose(-2, -1)) / math.sqrt(dh) + mask
    o = att.softmax(dim=-1) @ v
    o = o.transpose(1, 2).reshape(n, length, width)
    return o @ sd[p + 'out_proj.weight'].t() + sd[p + 'out_proj.bias']


def reference_text_tower(sd: Dict[str, Tensor], embeds: Tensor, ids: Tensor, heads: int,
                         activation: str = 'quick_gelu') -> Tensor:
    """Token-embedding sequences (N, L, D) of token ids ``ids`` (N, L) -> projected text features (N, C).

    ``activation`` exists so a test can show that the other choice gives other numbers.
    """
    n, length, _ = embeds.shape
    x = embeds + sd['positional_embedding'][:length]
    mask = torch.full((length, length), float('-inf'), dtype=x.dtype).triu(1)
    layers = 1 + max(int(k.split('.')[2]) for k in sd if k.startswith('transformer.resblocks.'))
    for i in range(layers):
        p = f'transformer.resblocks.{i}.'
        x = x + _attention(_ln(x, sd, p + 'ln_1'), sd, p + 'attn.', heads, mask)
        h = _ln(x, sd, p + 'ln_2') @ sd[p + 'mlp.c_fc.weight'].t() + sd[p + 'mlp.c_fc.bias']
        h = h * torch.sigmoid(1.702 * h) if activation == 'quick_gelu' else F.gelu(h)
        x = x + h @ sd[p + 'mlp.c_proj.weight'].t() + sd[p + 'mlp.c_proj.bias']
    x = _ln(x, sd, 'ln_final')
    x = x[torch.arange(n), ids.argmax(dim=-1)]  # EOT has the largest id
    return x @ sd['text_projection']


def reference_text_features(sd: Dict[str, Tensor], texts: Sequence[str], heads: int,
                            learned: Optional[List[Tensor]] = None, placeholder: str = 'x',
                            activation: str = 'quick_gelu') -> Tensor:
    """Features of ``texts``, all 77 positions encoded. Where ``learned`` is given, prompt ``b``'s k-th
    ``placeholder`` word is replaced in the embedding sequence by ``learned[b][k]`` (the authors write learned
    token vectors in place of a vocabulary entry, before the positional embedding)."""
    ids = reference_tokenize(texts, sd['positional_embedding'].shape[0])
    emb = sd['token_embedding.weight'][ids]
    if learned is not None:
        from open_clip.tokenizer import SimpleTokenizer
        pid = SimpleTokenizer().encode(placeholder)
        if len(pid) != 1:
            raise ValueError(f'placeholder {placeholder!r} must be one BPE token')
        emb = emb.clone()
        for b, vecs in enumerate(learned):
            pos = (ids[b] == pid[0]).nonzero().flatten()
            if len(pos) != len(vecs):
                raise ValueError(f'prompt {b}: {len(pos)} placeholders but {len(vecs)} learned vectors')
            emb[b, pos] = vecs.to(emb.dtype)
    return reference_text_tower(sd, emb, ids, heads, activation)


def _bn(x: Tensor, sd: Dict[str, Tensor], name: str, train: bool, stats: Dict[str, Tensor]) -> Tensor:
    rm = stats.setdefault(name + '.running_mean', sd[name + '.running_mean'].clone())
    rv = stats.setdefault(name + '.running_var', sd[name + '.running_var'].clone())
    return F.batch_norm(x, rm, rv, sd[name + '.weight'], sd[name + '.bias'], training=train, momentum=0.1,
                        eps=1e-5)


def _conv_bn(x, sd, conv, bn, train, stats, stride=1):
    w = sd[conv + '.weight']
    return _bn(F.conv2d(x, w, stride=stride, padding=w.shape[-1] // 2), sd, bn, train, stats)


def reference_image_trunk(sd: Dict[str, Tensor], x: Tensor, bn_train: bool = False,
                          stats: Optional[Dict[str, Tensor]] = None, prefix: str = 'visual.') -> Tensor:
    """ModifiedResNet stem .. layer4 (attention pool not applied) -> (N, 32 * width, H/32, W/32).

    ``bn_train``: BatchNorm with batch statistics, updating the running statistics in ``stats`` (a dict,
    filled with copies of the state dict's statistics on first use) with momentum 0.1, as ``nn.BatchNorm2d``.
    """
    stats = {} if stats is None else stats
    p = prefix
    for i in (1, 2, 3):
        x = F.relu(_conv_bn(x, sd, f'{p}conv{i}', f'{p}bn{i}', bn_train, stats, stride=2 if i == 1 else 1))
    x = F.avg_pool2d(x, 2)
    for li in (1, 2, 3, 4):
        blocks = sorted({int(k.split('.')[2]) for k in sd if k.startswith(f'{p}layer{li}.')})
        for bi in blocks:
            q = f'{p}layer{li}.{bi}.'
            stride = 2 if (li > 1 and bi == 0) else 1
            out = F.relu(_conv_bn(x, sd, q + 'conv1', q + 'bn1', bn_train, stats))
            out = F.relu(_conv_bn(out, sd, q + 'conv2', q + 'bn2', bn_train, stats))
            if stride > 1:
                out = F.avg_pool2d(out, stride)
            out = _conv_bn(out, sd, q + 'conv3', q + 'bn3', bn_train, stats)
            identity = x
            if q + 'downsample.0.weight' in sd:
                identity = F.avg_pool2d(x, stride) if stride > 1 else x
                identity = _conv_bn(identity, sd, q + 'downsample.0', q + 'downsample.1', bn_train, stats)
            x = F.relu(out + identity)
    return x
