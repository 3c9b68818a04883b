"""Prompt perturbations for tools/analysis/prompt_robustness.py (docs/prompt_robustness.md).

Families follow Chatterjee et al., "On the Robustness of Language Guidance for Low-Level Vision Tasks: Findings
from Depth Estimation" (CVPR 2024): sentence-level rewording and low-level (character) noise on human-word
prompts; and, for learned prompts, noise on the token vectors. Every perturbation is a pure function of its
input, its strength and a ``numpy.random.Generator`` (seeded by the caller), so a run is reproducible.
"""
import re
from typing import List, Sequence

import numpy as np
import torch

#: Curated synonyms of the words of the depth prompts of DepthCLIP, Auty et al. (depth-7, size-7, colour-7) and
#: the templates (hand-written; each keeps the word's meaning in the prompt).
SYNONYMS = {
    'very': ['extremely', 'really', 'highly'],
    'extremely': ['very', 'exceedingly'],
    'slightly': ['somewhat', 'a bit', 'mildly'],
    'little': ['bit', 'touch'],
    'close': ['near', 'nearby', 'proximate'],
    'distant': ['far', 'faraway', 'remote'],
    'distance': ['range', 'remoteness'],
    'far': ['distant', 'faraway'],
    'remote': ['distant', 'faraway'],
    'unseen': ['invisible', 'hidden'],
    'giant': ['huge', 'enormous'],
    'neither': ['not'],
    'nor': ['or'],
    'small': ['little', 'tiny'],
    'large': ['big', 'huge'],
    'red': ['crimson', 'scarlet'],
    'green': ['emerald', 'verdant'],
    'appears': ['seems', 'looks'],
    'object': ['thing', 'item'],
}
#: Paraphrases of the templates (``{object}`` and ``{depth}`` kept), strength k = the k-th paraphrase.
TEMPLATE_PARAPHRASES = [
    'This {object} seems to be {depth}',
    'The {object} looks {depth}',
    'A photo of a {object} that is {depth}',
]
#: Common English words that carry no depth meaning (random words in place of the depth words).
RANDOM_WORDS = ['table', 'music', 'yellow', 'river', 'paper', 'window', 'garden', 'morning', 'pencil', 'cloud',
                'happy', 'bread', 'letter', 'chair', 'summer', 'silver', 'market', 'horse', 'doctor', 'island']


def synonym_swap(text: str, p: float, rng: np.random.Generator) -> str:
    """Each word with an entry in :data:`SYNONYMS` replaced, with probability ``p``, by one of its synonyms."""
    out = []
    for w in text.split(' '):
        key = w.lower()
        if key in SYNONYMS and rng.random() < p:
            w = SYNONYMS[key][int(rng.integers(len(SYNONYMS[key])))]
        out.append(w)
    return ' '.join(out)


def char_typos(text: str, rate: float, rng: np.random.Generator) -> str:
    """Each letter, with probability ``rate``, deleted, doubled, replaced by a random letter, or swapped with
    the next one (one of the four, uniformly)."""
    chars, i, out = list(text), 0, []
    while i < len(chars):
        c = chars[i]
        if c.isalpha() and rng.random() < rate:
            op = int(rng.integers(4))
            if op == 0:  # delete
                i += 1
                continue
            if op == 1:
                out += [c, c]
            elif op == 2:
                out.append(chr(ord('a') + int(rng.integers(26))))
            elif i + 1 < len(chars):
                out += [chars[i + 1], c]
                i += 1
            else:
                out.append(c)
        else:
            out.append(c)
        i += 1
    return ''.join(out)


def shuffle_words(text: str, p: float, rng: np.random.Generator) -> str:
    """With probability ``p`` the prompt's words in a random order."""
    words = text.split(' ')
    if rng.random() < p:
        words = [words[k] for k in rng.permutation(len(words))]
    return ' '.join(words)


def random_depth_words(words: Sequence[str], p: float, rng: np.random.Generator) -> List[str]:
    """Each bin's depth words replaced, with probability ``p``, by as many random English words."""
    return [' '.join(RANDOM_WORDS[int(k)] for k in rng.integers(len(RANDOM_WORDS), size=len(w.split())))
            if rng.random() < p else w for w in words]


def case_and_punctuation(text: str, level: int) -> str:
    """1: a trailing period (as the papers print the prompts; the authors' code has none); 2: all capitals;
    3: both."""
    if level in (2, 3):
        text = text.upper()
    if level in (1, 3):
        text = text + '.'
    return text


def gaussian_noise(vecs: torch.Tensor, sigma: float, gen: torch.Generator) -> torch.Tensor:
    """``v + sigma * |v| * n``, n ~ N(0, I/D) per vector (so the noise norm is about ``sigma |v|``)."""
    d = vecs.shape[-1]
    noise = torch.randn(vecs.shape, generator=gen, dtype=vecs.dtype) / d ** 0.5
    return vecs + sigma * vecs.norm(dim=-1, keepdim=True) * noise


def drop_tokens(vecs: torch.Tensor, p: float, rng: np.random.Generator) -> torch.Tensor:
    """Each vector zeroed with probability ``p``."""
    keep = torch.as_tensor(rng.random(vecs.shape[0]) >= p, dtype=vecs.dtype)
    return vecs * keep[:, None]


def swap_bins(vecs: torch.Tensor, p: float, rng: np.random.Generator) -> torch.Tensor:
    """round(p * N) bins chosen at random exchange their vectors by a random cyclic shift among them."""
    n = vecs.shape[0]
    k = int(round(p * n))
    if k < 2:
        return vecs.clone()
    chosen = rng.choice(n, size=k, replace=False)
    out = vecs.clone()
    out[chosen] = vecs[np.roll(chosen, 1)]
    return out


def toward_nearest_word(vecs: torch.Tensor, table: torch.Tensor, alpha: float) -> torch.Tensor:
    """Each vector moved by ``alpha`` toward its nearest (cosine) row of the word-embedding ``table``
    (``alpha=1``: replaced by it; tools/analysis/token_neighbours.py lists these neighbours)."""
    v = vecs / vecs.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    t = table / table.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    nearest = table[(v @ t.t()).argmax(-1)]
    return (1 - alpha) * vecs + alpha * nearest.to(vecs.dtype)


def fill_template(template: str, object_word: str, depth: str) -> str:
    return re.sub(r'\s+', ' ', template.replace('{object}', object_word).replace('{depth}', depth)).strip()
