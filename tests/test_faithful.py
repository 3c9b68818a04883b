"""The faithful model equals a plain re-implementation of the authors' pipeline (SPEC §1), same weights.

The reference below is written from the SPEC, not from our modules: OpenAI-style tokenisation with
placeholder words, all 77 positions through CLIP's text transformer, EOT read by token id, L2 then
Frobenius normalisation; layer4 features from open_clip's own trunk, L2 over 2048 channels, nearest
interpolation along channels; 100 * <f, t> / 0.1, softmax, weighted bin centres; flip TTA averaged at low
resolution; bilinear (align_corners=True) upsampling; clamp.
"""
import math

import open_clip
import pytest
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS

from conftest import tiny_model_cfg

EOT = 49407


def reference_depth(clip, images, template_words, learned, bins, out_hw, min_d, max_d):
    tok = open_clip.tokenizer.SimpleTokenizer()
    ids = tok(template_words)  # (N, 77), placeholder word 'x' where a learned vector goes
    x_id = tok.encode('x')[0]
    emb = clip.token_embedding(ids).clone()
    for b in range(ids.shape[0]):
        pos = (ids[b] == x_id).nonzero().flatten()
        emb[b, pos] = learned[b]
    h = emb + clip.positional_embedding
    h = clip.transformer(h, attn_mask=clip.attn_mask)
    h = clip.ln_final(h)
    t = h[torch.arange(h.shape[0]), (ids == EOT).nonzero()[:, -1]] @ clip.text_projection
    t = t / t.norm(dim=-1, keepdim=True)
    t = t / t.norm()  # (N, C)

    def low_res(img):
        f = clip.visual.forward_intermediates(img, indices=1, intermediates_only=True)['image_intermediates'][0]
        n, c, hh, ww = f.shape
        f = f.reshape(n, c, hh * ww).permute(0, 2, 1)
        f = f / f.norm(dim=-1, keepdim=True)
        f = F.interpolate(f, size=t.shape[1])  # (n, HW, C/2) nearest along channels
        logits = 100.0 * (f @ t.t())
        logits = logits.permute(0, 2, 1).reshape(n, -1, hh, ww)
        logits /= 0.1
        p = F.softmax(logits, dim=1)
        return (p * torch.tensor(bins).reshape(1, -1, 1, 1)).sum(1, keepdim=True)

    d = (low_res(images) + low_res(images.flip(3)).flip(3)) / 2
    d = F.interpolate(d, size=out_hw, mode='bilinear', align_corners=True)
    return d.clamp(min_d, max_d)


@pytest.mark.parametrize('truncate, atol', [(False, 0.0), (True, 1e-4)])
def test_faithful_prediction_equals_reference_pipeline(truncate, atol):
    """Bit-exact with all 77 positions; with truncation (mathematically exact, SPEC §1) the text features
    differ by ~1e-6, which the sharp softmax (logit scale 1000/sqrt(N)) turns into ~1e-5 m of depth."""
    torch.manual_seed(0)
    cfg = tiny_model_cfg(template='404d', depth_tokens='learned-7', bins='linear', max_depth=10.0,
                         test_mode='whole_flip')
    model = MODELS.build(cfg)
    model.eval()
    enc = model.decode_head.text_encoder
    enc.truncate = truncate
    with torch.no_grad():  # move the tokens away from their init so every slot matters
        enc.ctx.normal_(0, 0.5)
        enc.depth_vecs.normal_(0, 0.5)
    clip = model.backbone._clip_model
    images = torch.randn(2, 3, 96, 128)
    n = 7
    words = ['x x x x object x x x x x'] * n
    learned = [torch.cat([enc.ctx, enc.depth_vecs[b:b + 1]]) for b in range(n)]
    w = (10.0 - 0.001) / n
    bins = [0.001 + i * w + w / 2 for i in range(n)]
    with torch.no_grad():
        expected = reference_depth(clip, images, words, learned, bins, (96, 128), 0.001, 10.0)
        metas = [dict(img_shape=(96, 128), ori_shape=(96, 128), pad_shape=(96, 128))] * 2
        got = model.inference(images, metas)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=0, atol=atol)
    assert (expected.max() - expected.min()) > 0.1  # a non-trivial map


def test_log_bins_equal_authors_formula_bit_for_bit():
    model = MODELS.build(tiny_model_cfg(depth_tokens='learned-256', bins='log', max_depth=80.0))
    w = (math.log(80.0) - math.log(0.001)) / 256
    ref = torch.tensor([math.e ** (math.log(0.001) + i * w + w / 2) for i in range(256)])
    assert torch.equal(model.decode_head.bin_centres, ref)
