"""The authors' training step of Auty et al. (DylanAuty/PromptLearningCLIP-MDE), written plainly.

What their code does (``modules/DepthCLIP.py``, ``modules/MainRunnerLM.py``, ``losses/SILogLoss.py``): every
bin's sentence tokenised to CLIP's 77 positions with a marker word at each learned slot, the learned vectors
written there; all 77 positions through OpenAI CLIP's text tower (``reference_clip``, a function of the state
dict, not open_clip's modules); ``requires_grad=False`` on the image trunk and the token embedding (no autograd
graph through the trunk) while the rest of the text tower requires grad without being optimised
(``clip_grads='text'``); BatchNorm as the model is set; DepthCLIP's head and the SILog loss. Independent of the
package's backbone, text encoder, head and loss code. ``clip_grads='all'`` also back-propagates through the
trunk (NOT the authors' step, kept to measure that cost).
"""
import contextlib
import re
from typing import Callable, Dict, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ['ReferencePrompts', 'reference_text_features', 'reference_text_tower_output', 'reference_text_normalise',
           'reference_image_features', 'reference_loss', 'reference_autograd', 'CLIP_GRADS', 'clip_of',
           'clear_clip_grads', 'clip_grad_flags']

_PLACEHOLDER = re.compile(r'(<p\d+>|\{object\}|\{depth\})')


def _clip_of(model: nn.Module) -> nn.Module:
    clip = getattr(model, 'clip_model', None)
    text = model.decode_head.text_encoder
    if clip is None or text.core.transformer is not clip.transformer:
        raise ValueError('the reference path needs the backbone and the text encoder to share one CLIP instance '
                         '(build the model as CLIPDepthEstimator with model.clip set)')
    if not hasattr(clip.visual, 'layer4'):
        raise NotImplementedError('the reference path implements the ResNet CLIP (raw layer4 features) only')
    return clip


class ReferencePrompts:
    """The authors' prompt handling: each bin's sentence is tokenised to CLIP's full context (77) with a marker
    word at every learned slot; at each step the learned vectors are written at the marker positions.

    Built from the template string and ``object_word`` alone (not from the text encoder's own slot tables).
    """

    def __init__(self, model: nn.Module, object_word: str = 'object', marker: str = 'x'):
        import open_clip
        text = model.decode_head.text_encoder
        self.text_norm = text.text_norm
        tok = open_clip.tokenizer.SimpleTokenizer(context_length=text.core.context_length)
        marker_ids = tok.encode(marker)
        if len(marker_ids) != 1:
            raise ValueError(f'marker {marker!r} must be a single BPE token')
        self.marker_id = marker_ids[0]
        pieces = [p for p in _PLACEHOLDER.split(text.template) if p.strip()]
        learned_object = getattr(text, 'object_vec', None) is not None
        sentences, sources = [], []
        for b in range(text.num_bins):
            words, src = [], []
            for piece in pieces:
                if piece.startswith('<p'):
                    words.append(marker), src.append(('ctx', int(piece[2:-1])))
                elif piece == '{object}':
                    if learned_object:
                        words.append(marker), src.append(('object', 0))
                    else:
                        words.append(object_word)
                elif piece == '{depth}':
                    if text.depth_words is not None:
                        words.append(text.depth_words[b])
                    else:
                        words.append(marker), src.append(('depth', b))
                else:
                    words.append(piece.strip())
            sentences.append(' '.join(words))
            sources.append(src)
        self.sentences = sentences
        ids = tok(sentences)  # (N, 77): SOT, BPE, EOT, zero padding, as clip.tokenize
        rows, cols, flat_sources = [], [], []
        for b, src in enumerate(sources):
            where = (ids[b] == self.marker_id).nonzero().flatten().tolist()
            if len(where) != len(src):
                raise ValueError(f'marker {marker!r} occurs {len(where)} times in {sentences[b]!r}, expected '
                                 f'{len(src)}: choose another marker')
            rows += [b] * len(src)
            cols += where
            flat_sources += src
        dev = text.core.positional_embedding.device
        self.ids = ids.to(dev)
        self.rows = torch.tensor(rows, dtype=torch.long, device=dev)
        self.cols = torch.tensor(cols, dtype=torch.long, device=dev)
        self.sources = flat_sources

    def vectors(self, text_encoder: nn.Module) -> Tensor:
        """(S, D) learned / fixed vectors in slot order, from the encoder's tensors (keeps autograd)."""
        table = dict(ctx=text_encoder.ctx, object=text_encoder.object_vec, depth=text_encoder.depth_vecs)
        return torch.stack([table[kind][i] for kind, i in self.sources]) if self.sources else None


def _state(clip: nn.Module) -> Dict[str, Tensor]:
    """The CLIP tensors themselves (``keep_vars``: parameters keep their ``requires_grad``, buffers are the
    model's own, so train-mode BatchNorm updates them in place as ``nn.BatchNorm2d`` would)."""
    return dict(clip.state_dict(keep_vars=True))


def reference_text_tower_output(clip: nn.Module, text_encoder: nn.Module, prompts: ReferencePrompts,
                                index=None) -> Tensor:
    """OpenAI CLIP's text tower (``benchmarks.reference_clip``, written from the architecture, not open_clip's modules)
    on the full 77-token sequences with the learned vectors written in: projected features (N, C) before any
    normalisation. ``index`` (a 1-D LongTensor of prompt numbers, or None for all): only those prompts, in
    that order (each prompt's row is computed from its own sequence alone)."""
    from .reference_clip import reference_text_tower
    sd = _state(clip)
    ids, rows, cols = prompts.ids, prompts.rows, prompts.cols
    vecs = prompts.vectors(text_encoder)
    if index is not None:
        index = torch.as_tensor(index, dtype=torch.long, device=ids.device)
        new_row = torch.full((ids.shape[0],), -1, dtype=torch.long, device=ids.device)
        new_row[index] = torch.arange(len(index), device=ids.device)
        ids = ids[index]
        if vecs is not None:
            keep = new_row[rows] >= 0
            rows, cols, vecs = new_row[rows][keep], cols[keep], vecs[keep]
            if not len(rows):
                vecs = None
    x = sd['token_embedding.weight'][ids]
    if vecs is not None:
        dense = torch.zeros_like(x).index_put((rows, cols), vecs.to(x.dtype))
        mask = torch.zeros(ids.shape, dtype=torch.bool, device=ids.device)
        mask[rows, cols] = True
        x = torch.where(mask[..., None], dense, x)
    return reference_text_tower(sd, x, ids, heads=clip.transformer.resblocks[0].attn.num_heads)


def reference_text_normalise(x: Tensor, prompts: ReferencePrompts) -> Tensor:
    """Per-prompt L2 (and, for ``auty_frobenius``, division by the Frobenius norm of the N x C matrix)."""
    x = x / x.norm(dim=-1, keepdim=True)
    if prompts.text_norm == 'auty_frobenius':
        x = x / x.norm()
    return x


def reference_text_features(clip: nn.Module, text_encoder: nn.Module, prompts: ReferencePrompts) -> Tensor:
    """OpenAI CLIP's text tower on the full 77-token sequences with the learned vectors written in
    (:func:`reference_text_tower_output`), then per-prompt L2 (and, for ``auty_frobenius``, division by the
    Frobenius norm of the N x C matrix)."""
    return reference_text_normalise(reference_text_tower_output(clip, text_encoder, prompts), prompts)


def reference_image_features(clip: nn.Module, inputs: Tensor, out_channels: int) -> Tensor:
    """OpenAI's ModifiedResNet stem .. layer4 (``benchmarks.reference_clip``; attention pool unused; BatchNorm in the
    visual tower's mode), L2 over channels per position, then nearest channel reduction to ``out_channels``
    (index ``floor(i * C / out_channels)``; RN50: the even channels)."""
    from .reference_clip import reference_image_trunk
    sd = _state(clip)
    stats = {k: v for k, v in sd.items() if k.startswith('visual.') and k.endswith(('running_mean', 'running_var'))}
    x = reference_image_trunk(sd, inputs, bn_train=clip.visual.training, stats=stats)
    x = x / x.norm(dim=1, keepdim=True)
    c = x.shape[1]
    idx = torch.div(torch.arange(out_channels, device=x.device) * c, out_channels, rounding_mode='floor')
    return x[:, idx]


CLIP_GRADS = ('text', 'all', 'input')


def reference_loss(model: nn.Module, inputs: Tensor, data_samples, prompts: ReferencePrompts,
                   clip_grads: str = 'text', text: Optional[Tensor] = None) -> Tensor:
    """The authors' forward and SILog loss (run it inside ``reference_autograd``). ``text``: the normalised text
    features (N, C) when computed by the caller (``reference_text_features`` otherwise)."""
    clip = _clip_of(model)
    bb, head = model.backbone, model.decode_head
    if getattr(bb, 'feature_mode', 'raw_layer4') != 'raw_layer4' or getattr(bb, 'extra_levels', ()):
        raise NotImplementedError('the reference path implements feature_mode=raw_layer4 without extra_levels')
    if head.proj is not None or head.normalize_features:
        raise NotImplementedError('the reference path implements the head without projection')
    if isinstance(head.loss_decode, nn.ModuleList):
        raise NotImplementedError('the reference path implements a single SILog loss')
    if clip_grads not in CLIP_GRADS:
        raise ValueError(f'clip_grads must be one of {CLIP_GRADS}, got {clip_grads!r}')
    if clip_grads == 'input':
        inputs = inputs.detach().requires_grad_(True)
    if text is None:
        text = reference_text_features(clip, head.text_encoder, prompts)
    trunk_grad = clip_grads != 'text'  # the authors: requires_grad=False on clip.visual -> no trunk graph
    with torch.set_grad_enabled(trunk_grad and torch.is_grad_enabled()):
        feat = reference_image_features(clip, inputs, text.shape[1])
    logits = head.logit_scale * torch.einsum('bchw,kc->bkhw', feat, text) / head.temperature
    prob = logits.softmax(dim=1)
    depth = (prob * head.bin_centres.view(1, -1, 1, 1)).sum(dim=1, keepdim=True)
    gt = torch.stack([s.gt_depth_map.data for s in data_samples]).to(depth)
    depth = F.interpolate(depth, size=gt.shape[-2:], mode='bilinear', align_corners=head.align_corners)
    lm = head.loss_decode
    valid = torch.isfinite(gt) & (gt > lm.min_depth)
    if lm.max_depth is not None:
        valid &= gt <= lm.max_depth
    g = torch.log(depth[valid]) - torch.log(gt[valid])
    return lm.loss_weight * lm.scale * torch.sqrt((g ** 2).mean() - lm.lambd * g.mean() ** 2)


@contextlib.contextmanager
def clip_grad_flags(model: nn.Module, requires_grad: Optional[Callable[[nn.Parameter], bool]] = None):
    """Each CLIP weight ``p`` gets ``requires_grad(p)`` while inside (``None``: flags left as they are); on exit
    the flags are restored and the CLIP weights' gradients dropped."""
    params = list(_clip_of(model).parameters())
    flags = [p.requires_grad for p in params]
    if requires_grad is not None:
        for p in params:
            p.requires_grad_(requires_grad(p))
    try:
        yield
    finally:
        for p, f in zip(params, flags):
            p.requires_grad_(f)
            p.grad = None


def reference_autograd(model: nn.Module, clip_grads: str = 'text'):
    """Which CLIP weights require grad while inside; restores the flags and drops those gradients on exit.

    ``'text'`` (the authors' training step, DylanAuty/PromptLearningCLIP-MDE ``modules/DepthCLIP.py``):
    ``requires_grad=False`` on ``clip.visual`` and ``clip.token_embedding``; the text transformer, positional
    embedding, final LayerNorm and projection keep ``requires_grad=True`` (not in the optimiser), so backward
    computes their weight gradients too. ``'all'``: every CLIP weight requires grad - autograd through the image
    trunk, which the authors' code does NOT do (kept to measure that cost). ``'input'``: CLIP frozen, the input
    requires grad.
    """
    if clip_grads == 'all':
        return clip_grad_flags(model, lambda p: True)
    if clip_grads == 'text':
        clip = _clip_of(model)
        frozen = {id(p) for p in clip.visual.parameters()} | {id(p) for p in clip.token_embedding.parameters()}
        return clip_grad_flags(model, lambda p: id(p) not in frozen)
    return clip_grad_flags(model)


def clear_clip_grads(model):
    """Drop the gradients of every CLIP weight (the authors' step computes text-tower weight gradients)."""
    for p in _clip_of(model).parameters():
        p.grad = None



clip_of = _clip_of
