"""tools/analysis/token_neighbours.py and mmclipdepth.apis.token_neighbours (Auty et al. Table 8)."""
import csv
import importlib.util
import os.path as osp

import numpy as np
import pytest
import torch

from conftest import REPO, tiny_model_cfg
from mmclipdepth.apis import find_text_encoder, init_depth_model, token_neighbours
from mmclipdepth.models.utils.clip_loader import build_clip_tokenizer
from mmseg.registry import MODELS
from tiny_configs import dump_tiny_config, tiny_config

NYU_CFG = 'clipdepth/nyu_baseline_learned7.py'
TEMPLATE_WORDS = 'This object appears to be'  # the 'baseline' template before {depth}
VOCAB_LIMIT = 300


def _tool():
    path = osp.join(REPO, 'tools', 'analysis', 'token_neighbours.py')
    spec = importlib.util.spec_from_file_location('token_neighbours_tool', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def tokenizer():
    return build_clip_tokenizer()


@pytest.fixture(scope='module')
def trained(tmp_path_factory, tokenizer):
    """Tiny learned-7 model whose depth token 2 is exactly the embedding row of 'close</w>'; its checkpoint."""
    folder = tmp_path_factory.mktemp('tokens')
    cfg_path = dump_tiny_config(NYU_CFG, folder)
    torch.manual_seed(0)
    with pytest.warns(UserWarning, match='RANDOM initial values'):
        model = init_depth_model(cfg_path, allow_untrained=True)
    word_id = tokenizer.encode('close')[0]
    assert tokenizer.decoder[word_id] == 'close</w>' and word_id >= VOCAB_LIMIT
    encoder = find_text_encoder(model)
    with torch.no_grad():
        encoder.depth_vecs[2].copy_(encoder.core.token_embedding.weight[word_id])
    ckpt = osp.join(str(folder), 'close.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), ckpt)
    return cfg_path, ckpt, model, word_id


def _md_table(lines, heading):
    start = next(i for i, line in enumerate(lines) if line.startswith('## ') and heading in line)
    rows = []
    for line in lines[start + 1:]:
        if line.startswith('## '):
            break
        if line.startswith('|'):
            rows.append([c.strip() for c in line.strip().strip('|').split('|')])
    return rows


def test_tool_finds_the_word_at_distance_zero_in_both_spaces(trained, tmp_path):
    cfg_path, ckpt, _, word_id = trained
    out = tmp_path / 'out'
    _tool().main([cfg_path, ckpt, '--topk', '5', '--vocab-limit', str(VOCAB_LIMIT), '--include-ids', str(word_id),
                  '--out-dir', str(out), '--batch-size', '128'])
    # the tool's main(argv) runs in this process: it must leave autograd on (a global set_grad_enabled(False)
    # made every later training in the process fail with "element 0 of tensors does not require grad")
    assert torch.is_grad_enabled()
    lines = (out / 'token_neighbours.md').read_text(encoding='utf-8').splitlines()
    for heading in ('embedding space', 'token space'):
        rows = _md_table(lines, heading)
        # Table 8's shape: a rank column, then (token, distance) per learned depth token; one row per rank
        assert rows[0] == ['Rank'] + sum(([f'`{{depth_{b}}}`', 'Dist.'] for b in range(7)), [])
        body = rows[2:]
        assert [r[0] for r in body] == ['1', '2', '3', '4', '5']
        assert body[0][5:7] == ['`close</w>`', '0.000']  # {depth_2}'s nearest neighbour
        for b in range(7):
            dists = [float(r[2 + 2 * b]) for r in body]
            assert dists == sorted(dists)
    with open(out / 'token_neighbours.csv', newline='', encoding='utf-8') as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * 7 * 5
    for space in ('embedding', 'token'):
        first = next(r for r in rows
                     if r['space'] == space and r['learned_token'] == '{depth_2}' and r['rank'] == '1')
        assert int(first['token_id']) == word_id and first['neighbour'] == 'close</w>'
        assert float(first['distance']) < 1e-5


def _clip_text_feature(clip_model, ids):
    """CLIP's own encode_text on a full 77-token row (independent of CLIPTextCore and its truncation)."""
    row = torch.zeros(1, 77, dtype=torch.long)
    row[0, :len(ids)] = torch.tensor(ids)
    with torch.no_grad():
        feat = clip_model.encode_text(row)
    return torch.nn.functional.normalize(feat, dim=-1)[0].double().numpy()


def test_distances_match_an_independent_computation(trained, tokenizer):
    _, _, model, word_id = trained
    encoder = find_text_encoder(model)
    candidates = [5, 77, 123, 299]
    res = token_neighbours(encoder, tokenizer, topk=1000, vocab_ids=candidates + [word_id], progress=False)
    clip_model = model.clip_model
    prefix = [tokenizer.sot_token_id] + tokenizer.encode(TEMPLATE_WORDS)
    eot = tokenizer.eot_token_id
    f_close = _clip_text_feature(clip_model, prefix + [word_id, eot])  # == the {depth_2} prompt
    emb = {nb.token_id: nb.distance for nb in res['embedding']['{depth_2}'] if nb.kind == 'vocab'}
    assert emb[word_id] < 1e-5
    for v in candidates:
        expected = np.linalg.norm(_clip_text_feature(clip_model, prefix + [v, eot]) - f_close)
        assert emb[v] == pytest.approx(expected, abs=1e-5)
    # a learned neighbour equal to a word is at the same distance as that word
    d0 = {(nb.kind, nb.text): nb.distance for nb in res['embedding']['{depth_0}']}
    assert d0[('learned', '{depth_2}')] == pytest.approx(d0[('vocab', 'close</w>')], abs=1e-5)
    table = encoder.core.token_embedding.weight.detach().double()
    vec0 = encoder.depth_vecs[0].detach().double()
    tok = {nb.token_id: nb.distance for nb in res['token']['{depth_0}'] if nb.kind == 'vocab'}
    for v in candidates:
        assert tok[v] == pytest.approx(float((vec0 - table[v]).norm()), rel=1e-6)
    # every candidate (5 words + 6 other learned tokens) is ranked; prompts truncated at their end token
    assert len(res['embedding']['{depth_0}']) == len(candidates) + 1 + 6
    assert res['embedding_stats']['prompt_length'] == [len(prefix) + 2]
    assert res['embedding_stats']['groups'] == 1  # all depth slots share one vocabulary pass
    # encoding the shared prompt start once (when CLIPTextCore offers it) changes nothing but rounding
    full = token_neighbours(encoder, tokenizer, topk=1000, vocab_ids=candidates + [word_id], share_prefix=False,
                            spaces=('embedding', ), progress=False)
    assert full['embedding_stats']['shared_prefix'] == [False]
    for label, rows in full['embedding'].items():
        other = {(nb.kind, nb.text): nb.distance for nb in res['embedding'][label]}
        for nb in rows:
            assert other[(nb.kind, nb.text)] == pytest.approx(nb.distance, abs=1e-5)


def test_context_tokens_keep_learned_context_in_place(tokenizer):
    torch.manual_seed(0)
    model = MODELS.build(tiny_config('clipdepth/nyu_404d_learned7.py').model)
    encoder = find_text_encoder(model)
    word_id = tokenizer.encode('photo')[0]
    assert tokenizer.decoder[word_id] == 'photo</w>'
    with torch.no_grad():
        encoder.ctx[5].copy_(encoder.core.token_embedding.weight[word_id])
    res = token_neighbours(encoder, tokenizer, topk=3, vocab_ids=list(range(40)) + [word_id], progress=False)
    assert list(res['embedding']) == [f'{{ctx_{k}}}' for k in range(8)] + [f'{{depth_{b}}}' for b in range(7)]
    for space in ('embedding', 'token'):
        best = res[space]['{ctx_5}'][0]
        assert best.token_id == word_id and best.text == 'photo</w>' and best.distance < 1e-5
    # context queries sit in the middle bin's prompt, with the other learned vectors in place
    assert res['query_prompts']['{ctx_5}'] == '<p0> <p1> <p2> <p3> object <p4> <p5> <p6> <p7> <d3>'
    assert res['embedding_stats']['groups'] == 1 + 8  # depth slots share one pass; one per context slot
    only_ctx = token_neighbours(encoder, tokenizer, topk=2, vocab_ids=[word_id], spaces=('token', ),
                                kinds=('context', ), progress=False)
    assert list(only_ctx['token']) == [f'{{ctx_{k}}}' for k in range(8)] and 'embedding' not in only_ctx


def test_no_learned_tokens_is_an_error(tokenizer, tmp_path, trained):
    model = MODELS.build(tiny_model_cfg(depth_tokens='depth-7'))
    with pytest.raises(ValueError, match='no learned tokens'):
        token_neighbours(find_text_encoder(model), tokenizer, vocab_ids=range(10), progress=False)
    cfg_path = trained[0]
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        _tool().main([cfg_path, str(tmp_path / 'missing.pth')])
