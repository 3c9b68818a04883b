"""LearnableTokenTextEncoder / CLIPTextCore against open_clip's own text path and hand-built sequences."""
import open_clip
import pytest
import torch
import torch.nn.functional as F

from conftest import TINY_CLIP
from mmclipdepth.models.text_encoders import LearnableTokenTextEncoder, PROMPT_TEMPLATES, DEPTH_TOKEN_SETS
from mmclipdepth.models.utils import load_clip

TOK = open_clip.tokenizer.SimpleTokenizer()


def build(**kw):
    clip = load_clip(**TINY_CLIP)
    enc = LearnableTokenTextEncoder(clip=TINY_CLIP, clip_model=clip, **kw)
    return enc, clip


@pytest.mark.parametrize('template', ['101d', '102d', '404d'])
@pytest.mark.parametrize('object_token', ['word', 'learned'])
def test_learned_vectors_land_exactly_at_placeholders(template, object_token):
    enc, clip = build(template=template, object_token=object_token, depth_tokens='learned-5')
    with torch.no_grad():
        for i, t in enumerate(enc.learnable_tensors()):
            t.copy_(torch.arange(t.numel(), dtype=torch.float32).reshape(t.shape) + 1000 * (i + 1))
    # independent: the same prompt with the single-token word 'x' at every placeholder, via open_clip
    text = PROMPT_TEMPLATES[template].replace('{object}', 'object' if object_token == 'word' else 'x')
    text = text.replace('{depth}', 'x')
    for k in range(8):
        text = text.replace(f'<p{k}>', 'x')
    ids = TOK([text] * 5)[:, :enc.token_ids.shape[1]]
    x_id = TOK.encode('x')[0]
    slots = (ids[0] == x_id).nonzero().flatten().tolist()
    embeds = enc.prompt_embeddings().detach()
    reference = clip.token_embedding(ids)
    not_slot = [i for i in range(ids.shape[1]) if i not in slots]
    torch.testing.assert_close(embeds[:, not_slot], reference[:, not_slot], rtol=0, atol=0)
    n_ctx = int(template[0]) + int(template[2])
    obj = object_token == 'learned'
    for b in range(5):
        got = embeds[b, slots]
        # ctx placeholders in template order, the object where it stands, the bin's depth token last
        order = []
        before = int(template[0])
        order += [('ctx', k) for k in range(before)]
        if obj:
            order.append(('obj', 0))
        order += [('ctx', k) for k in range(before, n_ctx)]
        order.append(('depth', b))
        table = {'ctx': enc.ctx, 'obj': enc.object_vec, 'depth': enc.depth_vecs}
        expected = torch.stack([table[name][k] for name, k in order]).detach()
        torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_human_word_prompts_equal_open_clip_encode_text():
    enc, clip = build(template='baseline', depth_tokens='depth-7', text_norm='depthclip')
    texts = [f'This object appears to be {w}' for w in DEPTH_TOKEN_SETS['depth-7']]
    assert enc.prompt_texts == texts
    with torch.no_grad():
        expected = F.normalize(clip.encode_text(TOK(texts)), dim=-1)  # full 77 positions, argmax pooling
        got = enc()
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)


def test_truncated_encoding_equals_full_77_positions_with_learned_tokens():
    enc, _ = build(template='404d', depth_tokens='learned-3')
    embeds = enc.prompt_embeddings()
    full = torch.cat([embeds, enc.core.token_embedding(torch.zeros(3, 77 - embeds.shape[1],
                                                                   dtype=torch.long))], 1)
    with torch.no_grad():
        short = enc.core(embeds, enc.eot_index, truncate=True)
        long = enc.core(full, enc.eot_index, truncate=False)
    assert embeds.shape[1] == 12  # SOT + 4 ctx + object + 4 ctx + depth + EOT
    torch.testing.assert_close(short, long, rtol=0, atol=1e-5)


def test_auty_frobenius_scales_every_vector_by_inverse_sqrt_n():
    enc, _ = build(template='baseline', depth_tokens='learned-9', text_norm='auty_frobenius')
    with torch.no_grad():
        t = enc()
    torch.testing.assert_close(t.norm(dim=-1), torch.full((9, ), 1 / 3.0), rtol=0, atol=1e-6)
    enc.text_norm = 'depthclip'
    with torch.no_grad():
        torch.testing.assert_close(enc.encode().norm(dim=-1), torch.ones(9), rtol=0, atol=1e-6)


def test_gradients_reach_only_learnable_tokens():
    enc, _ = build(template='102d', object_token='learned', depth_tokens='learned-4')
    enc.train()
    enc().sum().backward()
    learn = {id(t) for t in enc.learnable_tensors()}
    for name, p in enc.named_parameters():
        if id(p) in learn:
            assert p.grad is not None and p.grad.abs().sum() > 0, name
        else:
            assert p.grad is None and not p.requires_grad, name


def test_random_tokens_are_fixed_buffers_and_words_have_no_parameters():
    enc, _ = build(template='baseline', depth_tokens='random-7')
    assert not [p for p in enc.parameters() if p.requires_grad]
    assert 'depth_vecs' in dict(enc.named_buffers())
    assert abs(enc.depth_vecs.std().item() - 0.02) < 0.004
    enc2, _ = build(template='baseline', depth_tokens='rand-txt-7')
    assert enc2.prompt_texts[1] == 'This object appears to be inian'
    assert not [p for p in enc2.parameters() if p.requires_grad]


def test_cache_is_reused_in_eval_and_refreshed_after_optimiser_step_and_state_load():
    enc, _ = build(template='baseline', depth_tokens='learned-7')
    enc.eval()
    with torch.no_grad():
        a = enc()
        assert enc() is a  # cached: the same tensor object
    opt = torch.optim.SGD([enc.depth_vecs], lr=1.0)
    enc.train()
    enc()[:, 0].sum().backward()
    opt.step()
    enc.eval()
    with torch.no_grad():
        b = enc()
        fresh = enc.encode()
    assert not torch.allclose(a, b)
    torch.testing.assert_close(b, fresh, rtol=0, atol=0)
    state = {k: v.clone() for k, v in enc.state_dict().items()}
    state['depth_vecs'] = torch.zeros_like(state['depth_vecs'])
    enc.load_state_dict(state)
    with torch.no_grad():
        c = enc()
        torch.testing.assert_close(c, enc.encode(), rtol=0, atol=0)
    assert not torch.allclose(b, c)


@pytest.mark.parametrize('bad, match', [
    (dict(depth_tokens='learned-0'), 'depth_tokens'),
    (dict(depth_tokens='depth-8'), 'depth_tokens'),
    (dict(template='no depth here'), 'template'),
    (dict(text_norm='l1'), 'text_norm'),
    (dict(template='<p1> {object} {depth}'), '<p0>'),
])
def test_bad_arguments_raise_clear_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        build(**bad)


def test_too_long_prompt_is_rejected():
    with pytest.raises(ValueError, match='context length'):
        build(template=' '.join(f'<p{i}>' for i in range(80)) + ' {depth}')
