"""Nearest neighbours of learned prompt tokens in CLIP's vocabulary (Auty et al. §4.5, Table 8; docs/fidelity.md).

Two spaces:

- **embedding space** (Table 8): a learned token sits in a slot of a training prompt (e.g. the ``{depth}``
  slot of "This object appears to be {depth}"). Every CLIP vocabulary token *id* (SOT/EOT skipped, so
  ``close</w>`` and the sub-word piece ``close`` are different candidates), and every *other* learned
  vector, is put into that same slot with everything else of the prompt kept as trained (learned context
  vectors stay in place); all prompts go through CLIP's frozen text path (``CLIPTextCore``, encoded only up
  to the prompt's end token), features are L2-normalised, and candidates are ranked by the Euclidean
  distance to the learned prompt's normalised feature.
- **token space**: the raw learned vector (the text width, 512-d for RN50) against every row of the token
  embedding table and the other learned vectors, Euclidean distance, no normalisation.

Slots: a depth token ``{depth_b}`` uses bin ``b``'s prompt. Context tokens (``<pK>``) and a learned object
token are shared by all bin prompts; their query prompt is bin ``context_bin``'s prompt (default: the
middle bin), i.e. the candidate replaces the context vector in that prompt, the other context vectors and
that bin's depth token stay in place. Slots whose prompt is identical apart from the slot (all depth slots
of one template) share one pass over the vocabulary.
"""
import csv
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ['Neighbour', 'find_text_encoder', 'learned_token_labels', 'token_neighbours',
           'neighbours_to_markdown', 'neighbours_to_csv', 'format_token']


@dataclass
class Neighbour:
    rank: int
    text: str  # decoded vocabulary token (e.g. 'close</w>') or a learned-token label ('{depth_2}')
    token_id: Optional[int]  # vocabulary id, None for a learned token
    kind: str  # 'vocab' | 'learned'
    distance: float


def find_text_encoder(model: nn.Module) -> nn.Module:
    """The model's ``LearnableTokenTextEncoder`` (the first module with ``prompt_embeddings`` and ``core``)."""
    for module in model.modules():
        if hasattr(module, 'prompt_embeddings') and hasattr(module, 'core') and hasattr(module, 'slot_source'):
            return module
    raise ValueError(f'{type(model).__name__} has no learnable-token text encoder (LearnableTokenTextEncoder)')


def learned_token_labels(encoder: nn.Module) -> List[str]:
    """Labels of the rows of ``encoder.slot_vectors()``: ``{ctx_K}`` ..., ``{object}``, ``{depth_B}`` ..."""
    labels = []
    if encoder.ctx is not None:
        labels += [f'{{ctx_{k}}}' for k in range(encoder.ctx.shape[0])]
    if encoder.object_vec is not None:
        labels.append('{object}')
    if encoder.depth_vecs is not None:
        labels += [f'{{depth_{b}}}' for b in range(encoder.depth_vecs.shape[0])]
    return labels


def format_token(text: str) -> str:
    """A token as Markdown code (``close</w>`` shows literally; pipes escaped)."""
    fence = '``' if '`' in text else '`'
    pad = ' ' if text.startswith('`') or text.endswith('`') else ''
    return f'{fence}{pad}{text}{pad}{fence}'.replace('|', '\\|')


@dataclass
class _Query:
    label: str
    source: int  # row of slot_vectors()
    prompt: int
    position: int


def _queries(encoder, context_bin: Optional[int]) -> List[_Query]:
    labels = learned_token_labels(encoder)
    n_bins = encoder.token_ids.shape[0]
    ref = n_bins // 2 if context_bin is None else int(context_bin)
    if not 0 <= ref < n_bins:
        raise ValueError(f'context_bin must be in [0, {n_bins - 1}], got {context_bin}')
    slots = list(zip(encoder.slot_prompt.tolist(), encoder.slot_position.tolist(),
                     encoder.slot_source.tolist()))
    queries = []
    for src, label in enumerate(labels):
        mine = [(p, pos) for p, pos, s in slots if s == src]
        if not mine:
            continue
        p, pos = next(((p, pos) for p, pos in mine if p == ref), mine[0])
        queries.append(_Query(label, src, p, pos))
    return queries


def _normalised(feats: Tensor) -> Tensor:
    return F.normalize(feats.float(), dim=-1)


def _distances(query: Tensor, cands: Tensor) -> Tensor:
    """Exact Euclidean distances (Q, B) (no |a|^2 + |b|^2 - 2ab cancellation, so equal vectors give 0)."""
    return torch.cdist(query.double(), cands.double(), compute_mode='donot_use_mm_for_euclid_dist').float()


def _merge_topk(best_d, best_i, d, ids, k):
    all_d = torch.cat([best_d, d], 1) if best_d is not None else d
    all_i = torch.cat([best_i, ids.expand(d.shape[0], -1)], 1) if best_i is not None else \
        ids.expand(d.shape[0], -1)
    k = min(k, all_d.shape[1])
    top_d, idx = all_d.topk(k, dim=1, largest=False, sorted=True)
    return top_d, all_i.gather(1, idx)


@torch.no_grad()
def token_neighbours(encoder: nn.Module,
                     tokenizer,
                     topk: int = 15,
                     batch_size: int = 1024,
                     vocab_ids: Optional[Iterable[int]] = None,
                     spaces: Sequence[str] = ('embedding', 'token'),
                     context_bin: Optional[int] = None,
                     kinds: Sequence[str] = ('context', 'object', 'depth'),
                     share_prefix: bool = True,
                     progress: bool = True) -> Dict[str, 'OrderedDict[str, List[Neighbour]]']:
    """Top-``topk`` neighbours of every learned (or fixed random) prompt vector of ``encoder``.

    Args:
        encoder: a ``LearnableTokenTextEncoder`` (see ``find_text_encoder``).
        tokenizer: CLIP's BPE tokenizer (``decoder`` maps ids to pieces, ``sot_token_id``/``eot_token_id``).
        vocab_ids: candidate vocabulary ids (default: every id of the token-embedding table but SOT/EOT).
        context_bin: which bin's prompt hosts the context/object-token queries (default: the middle bin).
        kinds: which learned tokens to query: ``'context'`` (``{ctx_K}``), ``'object'``, ``'depth'``. Every
            learned vector stays a candidate. Each context/object token costs one vocabulary pass of its own.
        share_prefix: encode the prompt start before the slot (identical for every candidate) once, through
            ``CLIPTextCore.forward_shared_prefix`` where the text tower supports it (same maths, equal up to
            float rounding; ~4x less work for the baseline template); otherwise ``CLIPTextCore.forward``.

    Returns ``{space: {label: [Neighbour, ...]}}`` for ``space`` in ``spaces`` (candidates: the vocabulary
    ids and the other learned vectors; vocabulary ids are negative-free, learned ones get ``token_id=None``).
    """
    vectors = encoder.slot_vectors()
    if vectors is None or not len(encoder.slot_source):
        raise ValueError('the text encoder has no learned tokens (every prompt is made of words): nothing to '
                         'interpret')
    labels = learned_token_labels(encoder)
    prefixes = {'context': '{ctx_', 'object': '{object', 'depth': '{depth_'}
    bad_kinds = [k for k in kinds if k not in prefixes]
    if bad_kinds:
        raise ValueError(f'kinds must be among {tuple(prefixes)}, got {bad_kinds}')
    queries = [q for q in _queries(encoder, context_bin)
               if any(q.label.startswith(prefixes[k]) for k in kinds)]
    if not queries:
        raise ValueError(f'the text encoder has no learned tokens of kinds {tuple(kinds)}')
    core = encoder.core
    table = core.token_embedding.weight
    device = table.device
    special = {int(tokenizer.sot_token_id), int(tokenizer.eot_token_id)}
    if vocab_ids is None:
        vocab_ids = range(table.shape[0])
    ids = sorted({int(i) for i in vocab_ids} - special)
    bad = [i for i in ids if not 0 <= i < table.shape[0]]
    if bad:
        raise ValueError(f'vocabulary ids {bad[:5]} are outside the token-embedding table '
                         f'(0..{table.shape[0] - 1})')
    ids_t = torch.tensor(ids, dtype=torch.long, device=device)
    vectors = vectors.detach().to(device=device, dtype=table.dtype)
    n_learned = vectors.shape[0]
    learned_code = -1 - torch.arange(n_learned, device=device)  # candidate code of learned vector j
    for space in spaces:
        if space not in ('embedding', 'token'):
            raise ValueError(f"spaces must be among ('embedding', 'token'), got {space!r}")

    def decode(code: int):
        """candidate code -> (text, token_id, kind)"""
        if code < 0:
            return labels[-1 - code], None, 'learned'
        return tokenizer.decoder.get(code, f'<id {code}>'), code, 'vocab'

    results = OrderedDict()
    if 'token' in spaces:
        out = OrderedDict()
        for q in queries:
            others = [j for j in range(n_learned) if j != q.source]
            cand = torch.cat([table[ids_t], vectors[others]], 0)
            codes = torch.cat([ids_t, learned_code[others]])
            d = _distances(vectors[q.source:q.source + 1], cand)[0]
            top_d, idx = d.topk(min(topk, len(d)), largest=False, sorted=True)
            out[q.label] = [Neighbour(r + 1, *decode(int(codes[i])), float(dist))
                            for r, (dist, i) in enumerate(zip(top_d.tolist(), idx.tolist()))]
        results['token'] = out

    if 'embedding' in spaces:
        embeds = encoder.prompt_embeddings().detach()
        eot = encoder.eot_index
        # group queries whose prompts are identical apart from the slot: one vocabulary pass per group
        groups: List[List[_Query]] = []
        for q in queries:
            base = embeds[q.prompt, :int(eot[q.prompt]) + 1].clone()
            base[q.position] = 0
            for g in groups:
                g0 = g[0]
                if g0.position == q.position and int(eot[g0.prompt]) == int(eot[q.prompt]):
                    other = embeds[g0.prompt, :int(eot[g0.prompt]) + 1].clone()
                    other[g0.position] = 0
                    if torch.equal(base, other):
                        g.append(q)
                        break
            else:
                groups.append([q])
        n_chunks = sum((len(ids) + batch_size - 1) // batch_size for _ in groups)
        bar = None
        if progress and n_chunks:
            from mmengine.utils import ProgressBar
            bar = ProgressBar(n_chunks)
        out = OrderedDict()
        used_prefix = []
        start = time.perf_counter()
        for group in groups:
            g0 = group[0]
            base = embeds[g0.prompt, :int(eot[g0.prompt]) + 1]
            length, pos = base.shape[0], g0.position
            use_prefix = (share_prefix and pos > 0 and hasattr(core, 'forward_shared_prefix')
                          and bool(getattr(core, 'can_share_prefix', False)))
            used_prefix.append(use_prefix)

            def encode_slot(slot_vecs: Tensor) -> Tensor:
                n = slot_vecs.shape[0]
                start = pos if use_prefix else 0  # prompt positions [start, length) are encoded per candidate
                seq = base[start:].unsqueeze(0).repeat(n, 1, 1)
                seq[:, pos - start] = slot_vecs.to(seq.dtype)
                pool = torch.full((n, ), length - 1 - start, dtype=torch.long, device=device)
                if use_prefix:  # the shared start (e.g. SOT This object appears to be) is encoded once
                    return _normalised(core.forward_shared_prefix(base[None, :pos], seq, pool))
                return _normalised(core(seq, pool, truncate=True))

            learned_feats = encode_slot(vectors)  # every learned vector in this slot (queries included)
            q_src = torch.tensor([q.source for q in group], device=device)
            q_feats = learned_feats[q_src]
            best_d, best_i = None, None
            for s in range(0, len(ids), batch_size):
                chunk = ids_t[s:s + batch_size]
                feats = encode_slot(core.embed_ids(chunk[:, None])[:, 0])
                best_d, best_i = _merge_topk(best_d, best_i, _distances(q_feats, feats), chunk[None], topk)
                if bar is not None:
                    bar.update()
            # the other learned vectors, each query excluding itself
            d_learned = _distances(q_feats, learned_feats)
            d_learned[torch.arange(len(group)), q_src] = float('inf')
            best_d, best_i = _merge_topk(best_d, best_i, d_learned, learned_code[None], topk)
            for row, q in enumerate(group):
                out[q.label] = [Neighbour(r + 1, *decode(int(c)), float(dd))
                                for r, (dd, c) in enumerate(zip(best_d[row].tolist(), best_i[row].tolist()))
                                if dd != float('inf')]
        if bar is not None:
            print()
        elapsed = time.perf_counter() - start
        # keep the query order of the encoder
        results['embedding'] = OrderedDict((q.label, out[q.label]) for q in queries)
        results['embedding_stats'] = dict(seconds=elapsed, prompts=len(ids) * len(groups), groups=len(groups),
                                          prompt_length=[int(eot[g[0].prompt]) + 1 for g in groups],
                                          shared_prefix=used_prefix)
    results['query_prompts'] = OrderedDict(
        (q.label, encoder.prompt_texts[q.prompt]) for q in queries)
    return results


_SPACE_TITLES = {
    'embedding': 'CLIP embedding space (prompt features L2-normalised, Euclidean distance)',
    'token': 'token space (raw token vectors, Euclidean distance)',
}


def neighbours_to_markdown(results: dict, columns: int = 7, title: Optional[str] = None,
                           notes: Sequence[str] = ()) -> str:
    """Tables shaped like Auty et al. Table 8: one row per rank, a (Token, Dist.) column pair per learned
    token (at most ``columns`` learned tokens per table; more tokens continue in further tables)."""
    lines = [f'# {title}' if title else '# Nearest neighbours of learned tokens', '']
    lines += [f'- {n}' for n in notes]
    prompts = results.get('query_prompts') or {}
    if prompts:
        lines += ['', 'Query prompts (learned vectors in `<...>` slots):', '']
        lines += [f'- `{label}`: `{text}`' for label, text in prompts.items()]
    for space in ('embedding', 'token'):
        if space not in results:
            continue
        table = results[space]
        labels = list(table)
        lines += ['', f'## Nearest neighbours in {_SPACE_TITLES[space]}', '']
        for start in range(0, len(labels), columns):
            part = labels[start:start + columns]
            depth = max(len(table[lb]) for lb in part)
            lines.append('| Rank | ' + ' | '.join(f'{format_token(lb)} | Dist.' for lb in part) + ' |')
            lines.append('|---:|' + '|'.join(':---|---:' for _ in part) + '|')
            for r in range(depth):
                cells = []
                for lb in part:
                    nb = table[lb][r] if r < len(table[lb]) else None
                    cells += [format_token(nb.text), f'{nb.distance:.3f}'] if nb else ['', '']
                lines.append(f'| {r + 1} | ' + ' | '.join(cells) + ' |')
            lines.append('')
    return '\n'.join(lines).rstrip() + '\n'


def neighbours_to_csv(results: dict, path: str) -> None:
    """Long CSV: ``space, learned_token, rank, neighbour, token_id, kind, distance`` (token_id empty for a
    learned neighbour)."""
    with open(path, 'w', newline='', encoding='utf-8') as f:
        writer = csv.writer(f)
        writer.writerow(['space', 'learned_token', 'rank', 'neighbour', 'token_id', 'kind', 'distance'])
        for space in ('embedding', 'token'):
            for label, rows in (results.get(space) or {}).items():
                for nb in rows:
                    writer.writerow([space, label, nb.rank, nb.text, '' if nb.token_id is None else nb.token_id,
                                     nb.kind, f'{nb.distance:.6f}'])
