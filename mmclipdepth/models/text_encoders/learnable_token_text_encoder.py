"""One text prompt per depth bin, with learnable tokens spliced into CLIP's frozen text path."""
import re
from typing import List, Optional, Sequence, Union

import torch
from mmseg.registry import MODELS
from torch import Tensor, nn

from ..utils.clip_loader import build_clip_tokenizer, load_clip
from .cached_text_encoder import CachedTextEncoder
from .clip_text_core import CLIPTextCore

__all__ = ['LearnableTokenTextEncoder', 'PROMPT_TEMPLATES', 'DEPTH_TOKEN_SETS']

#: docs/fidelity.md "Templates" (Auty's code has no trailing period).
PROMPT_TEMPLATES = {
    'depthclip': 'This {object} is {depth}',
    'baseline': 'This {object} appears to be {depth}',
    '101d': '<p0> {object} <p1> {depth}',
    '102d': '<p0> {object} <p1> <p2> {depth}',
    '404d': '<p0> <p1> <p2> <p3> {object} <p4> <p5> <p6> <p7> {depth}',
}

#: docs/fidelity.md "Text side" made of human words (one entry per bin, near to far).
DEPTH_TOKEN_SETS = {
    'depthclip': ['giant', 'extremely close', 'close', 'not in distance', 'a little remote', 'far',
                  'unseen'],
    'depth-7': ['very close', 'close', 'slightly close', 'neither close nor distant', 'slightly distant',
                'distant', 'very distant'],
    'size-7': ['very small', 'small', 'slightly small', 'neither small nor large', 'slightly large', 'large',
               'very large'],
    'colour-7': ['very red', 'red', 'slightly red', 'neither red nor green', 'slightly green', 'green',
                 'very green'],
    'rand-txt-7': ['summer', 'inian', 'fellow', 'greg', 'bis', 'ksh', 'aidan'],
}

_PIECE = re.compile(r'(<p\d+>|\{object\}|\{depth\})')


def _parse_depth_tokens(depth_tokens: Union[str, Sequence[str]]):
    """-> (kind, words or None, N) with kind in words / random / learned."""
    if not isinstance(depth_tokens, str):
        words = list(depth_tokens)
        if not words or not all(isinstance(w, str) and w.strip() for w in words):
            raise ValueError(f'depth_tokens list must hold non-empty strings, got {depth_tokens!r}')
        return 'words', words, len(words)
    if depth_tokens in DEPTH_TOKEN_SETS:
        words = DEPTH_TOKEN_SETS[depth_tokens]
        return 'words', words, len(words)
    m = re.fullmatch(r'(random|learned)-(\d+)', depth_tokens)
    if m and int(m.group(2)) > 0:
        return m.group(1), None, int(m.group(2))
    raise ValueError(f'Unknown depth_tokens {depth_tokens!r}; expected one of {sorted(DEPTH_TOKEN_SETS)}, '
                     "'random-N', 'learned-N' (N >= 1) or a list of words.")


@MODELS.register_module()
class LearnableTokenTextEncoder(CachedTextEncoder):
    """Text features for N depth-bin prompts (DepthCLIP; Auty et al. §3, Tables 3-7).

    Each bin's prompt is a template (``depthclip``, ``baseline``, ``101d``, ``102d``, ``404d`` or a custom
    string with ``<pK>``, ``{object}``, ``{depth}``) filled with: learned context vectors ``<pK>`` (shared
    by all bins), the word ``object`` or one learned object vector, and the bin's depth word(s), a fixed
    random vector (``random-N``) or its own learned vector (``learned-N``). Learned vectors are 512-d (the
    text width), N(0, ``init_std``), written into the token-embedding sequence before the positional
    embedding. Output (N, C) is normalised per ``text_norm``: ``depthclip`` (per-prompt L2) or
    ``auty_frobenius`` (per-prompt L2, then the N x C matrix divided by its Frobenius norm).

    Only positions up to the longest prompt's end token are encoded (exact, docs/fidelity.md). ``share_prefix=True``
    encodes the start that every prompt shares (e.g. ``SOT This object appears to be``, or the learned context
    of ``404d``) once and only each prompt's remainder per bin (``CLIPTextCore.forward_shared_prefix``; same
    maths, equal up to float rounding, ~4x less text compute at 256 bins; on by default). While nothing
    learnable can change (no learnable tokens, eval, or no grad) the features are cached; the cache key is
    the learnable tensors' storage and version counters, so any optimiser step or state load refreshes it.
    """

    def __init__(self,
                 clip: dict = dict(model_name='RN50', pretrained='openai'),
                 template: str = 'baseline',
                 object_token: str = 'word',
                 object_word: str = 'object',
                 depth_tokens: Union[str, Sequence[str]] = 'learned-7',
                 init_std: float = 0.02,
                 text_norm: str = 'auty_frobenius',
                 truncate: bool = True,  # False: all 77 positions, as the authors' code
                 cache: bool = True,
                 share_prefix: bool = True,
                 clip_model: Optional[nn.Module] = None):
        super().__init__()
        if text_norm not in ('depthclip', 'auty_frobenius'):
            raise ValueError(f"text_norm must be 'depthclip' or 'auty_frobenius', got {text_norm!r}")
        if object_token not in ('word', 'learned'):
            raise ValueError(f"object_token must be 'word' or 'learned', got {object_token!r}")
        template_str = PROMPT_TEMPLATES.get(template, template)
        if '{depth}' not in template_str:
            raise ValueError(f'template {template!r} is neither one of {sorted(PROMPT_TEMPLATES)} nor a '
                             'template string containing {depth}')
        self.template = template_str
        self.text_norm = text_norm
        self.truncate = truncate
        self.share_prefix = share_prefix
        self.use_cache = cache
        self.depth_kind, self.depth_words, self.num_bins = _parse_depth_tokens(depth_tokens)

        clip_model = clip_model if clip_model is not None else load_clip(**clip)
        self.core = CLIPTextCore(clip_model)
        self.core.requires_grad_(False)
        tokenizer = build_clip_tokenizer(clip.get('model_name', 'RN50'), clip.get('arch_cfg'))
        width = self.core.width

        pieces = [p for p in _PIECE.split(template_str) if p.strip()]
        ctx_ids = sorted({int(p[2:-1]) for p in pieces if p.startswith('<p')})
        if ctx_ids != list(range(len(ctx_ids))):
            raise ValueError(f'context placeholders in template {template_str!r} must be <p0>..<pK-1>, '
                             f'got {ctx_ids}')
        n_ctx = len(ctx_ids)
        # learnable / fixed vectors, in one table: [ctx (n_ctx) | object (0/1) | depth (N)]
        self.ctx = nn.Parameter(torch.randn(n_ctx, width) * init_std) if n_ctx else None
        self.object_vec = (nn.Parameter(torch.randn(1, width) * init_std)
                           if object_token == 'learned' and '{object}' in template_str else None)
        if self.depth_kind == 'learned':
            self.depth_vecs = nn.Parameter(torch.randn(self.num_bins, width) * init_std)
        elif self.depth_kind == 'random':
            self.register_buffer('depth_vecs', torch.randn(self.num_bins, width) * init_std)
        else:
            self.depth_vecs = None
        obj_src = n_ctx
        depth_src = n_ctx + (1 if self.object_vec is not None else 0)

        sot, eot = tokenizer.sot_token_id, tokenizer.eot_token_id
        ids_rows, slot_p, slot_pos, slot_src, eot_pos = [], [], [], [], []
        self.prompt_texts: List[str] = []
        for b in range(self.num_bins):
            row, text = [sot], []
            for piece in pieces:
                if piece.startswith('<p'):
                    k = int(piece[2:-1])
                    slot_p.append(b), slot_pos.append(len(row)), slot_src.append(k)
                    row.append(0), text.append(piece)
                elif piece == '{object}':
                    if self.object_vec is not None:
                        slot_p.append(b), slot_pos.append(len(row)), slot_src.append(obj_src)
                        row.append(0), text.append('<object>')
                    else:
                        row += tokenizer.encode(object_word)
                        text.append(object_word)
                elif piece == '{depth}':
                    if self.depth_words is not None:
                        row += tokenizer.encode(self.depth_words[b])
                        text.append(self.depth_words[b])
                    else:
                        slot_p.append(b), slot_pos.append(len(row)), slot_src.append(depth_src + b)
                        row.append(0), text.append(f'<d{b}>')
                else:
                    row += tokenizer.encode(piece.strip())
                    text.append(piece.strip())
            eot_pos.append(len(row))
            row.append(eot)
            if len(row) > self.core.context_length:
                raise ValueError(f'prompt {" ".join(text)!r} has {len(row)} tokens, more than CLIP\'s '
                                 f'context length {self.core.context_length}')
            ids_rows.append(row)
            self.prompt_texts.append(' '.join(text))
        length = max(len(r) for r in ids_rows)
        ids = torch.zeros(self.num_bins, length, dtype=torch.long)
        for b, row in enumerate(ids_rows):
            ids[b, :len(row)] = torch.tensor(row)
        self.register_buffer('token_ids', ids, persistent=False)
        self.register_buffer('eot_index', torch.tensor(eot_pos), persistent=False)
        self.register_buffer('slot_prompt', torch.tensor(slot_p, dtype=torch.long), persistent=False)
        self.register_buffer('slot_position', torch.tensor(slot_pos, dtype=torch.long), persistent=False)
        self.register_buffer('slot_source', torch.tensor(slot_src, dtype=torch.long), persistent=False)
        # length of the start every prompt shares (same token id and same learned vector at each position);
        # the pooled end token lies after it
        slot_map = torch.full_like(ids, -1)
        slot_map[self.slot_prompt, self.slot_position] = self.slot_source
        same = (ids == ids[:1]).all(0) & (slot_map == slot_map[:1]).all(0)
        self.prefix_length = (int(same[:min(eot_pos)].long().cumprod(0).sum()) if self.num_bins > 1 else 0)

    # ------------------------------------------------------------------ helpers
    def learnable_tensors(self) -> List[Tensor]:
        """Every tensor that fills a placeholder (learned parameters and fixed random vectors)."""
        return [t for t in (self.ctx, self.object_vec, self.depth_vecs) if t is not None]

    def slot_vectors(self) -> Optional[Tensor]:
        tensors = self.learnable_tensors()
        return torch.cat(tensors, 0) if tensors else None

    def prompt_embeddings(self) -> Tensor:
        """(N, L, D) token-embedding sequences with every learned vector at its placeholder. L is the longest
        prompt's length (``truncate=True``) or CLIP's full context length, zero-padded like the tokenizer."""
        ids = self.token_ids
        if not self.truncate:
            ids = torch.nn.functional.pad(ids, (0, self.core.context_length - ids.shape[1]))
        embeds = self.core.embed_ids(ids)
        vectors = self.slot_vectors()
        if vectors is not None and len(self.slot_source):
            embeds = embeds.index_put((self.slot_prompt, self.slot_position),
                                      vectors[self.slot_source].to(embeds.dtype))
        return embeds

    def _normalise(self, feats: Tensor) -> Tensor:
        feats = feats / feats.norm(dim=-1, keepdim=True)
        if self.text_norm == 'auty_frobenius':
            feats = feats / feats.norm()
        return feats

    def encode(self) -> Tensor:
        """Uncached text features (N, C)."""
        embeds = self.prompt_embeddings()
        lp = self.prefix_length
        if self.share_prefix and lp > 0 and self.core.can_share_prefix:
            end = int(self.eot_index.max()) + 1 if self.truncate else embeds.shape[1]
            feats = self.core.forward_shared_prefix(embeds[:1, :lp], embeds[:, lp:end], self.eot_index - lp)
        else:
            feats = self.core(embeds, self.eot_index, truncate=self.truncate)
        return self._normalise(feats)
