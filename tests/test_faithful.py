"""The paper configs' models equal an independent re-implementation of the authors' pipeline, same weights.

The reference (``benchmarks.reference_clip``, ``benchmarks.reference_depthclip``) is written from the published
architecture on plain state-dict tensors: OpenAI CLIP's text tower (QuickGELU, causal mask, pre-LN blocks, EOT read
by ``argmax`` of the token ids) fed with whole sentences tokenised by the BPE tokenizer (learned vectors written over a placeholder word, as the
authors do), OpenAI's ModifiedResNet trunk, and DepthCLIP's head. It never calls open_clip's modules or the
package's models, so the mutation tests below show it catches a wrong activation, normalisation, tokenisation,
pooling position or channel reduction.

Tolerances. In float64 the two computations differ only by rounding in a different operation order (the model
encodes up to the longest prompt's EOT, the reference all 77 positions; different matmul shapes): unit roundoff
1.1e-16, amplified by the sharp softmax (logit scale 100 / temperature 0.1 on L2-normalised features) and by a
few thousand accumulated operations, stays many orders below 1e-9, while each mutation moves depth by >= 1e-4.
In float32 (unit roundoff 6e-8) the same amplification gives ~1e-5 m on these tiny random models: 1e-4 m.
"""
import os.path as osp

import mmcv
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS

from conftest import DATA, TINY_CLIP, TINY_CLIP_ARCH, tiny_model_cfg
from mmclipdepth.models.utils import text_activation
from benchmarks import (reference_bin_depth, reference_depth, reference_image_trunk, reference_prompt_features,
                        reference_silog)

HEADS = TINY_CLIP_ARCH['text_cfg']['heads']
NYU_RGB = osp.join(DATA, 'nyu', 'sync', 'basement_0001a', 'rgb_00000.jpg')

# Auty et al. Table 3 / DepthCLIP words, and the templates, typed from the papers (not imported)
DEPTH7 = ['very close', 'close', 'slightly close', 'neither close nor distant', 'slightly distant', 'distant',
          'very distant']
DEPTHCLIP7 = ['giant', 'extremely close', 'close', 'not in distance', 'a little remote', 'far', 'unseen']

CASES = {
    # name: (model cfg kwargs, reference sentence for bin b, learned vectors of bin b, bins, max depth, norm)
    'baseline-learned7': (dict(template='baseline', depth_tokens='learned-7'),
                          lambda b: 'This object appears to be x', lambda e, b: [e.depth_vecs[b]], 'linear', 10.0,
                          'auty_frobenius'),
    '404d-learned7': (dict(template='404d', depth_tokens='learned-7'),
                      lambda b: 'x x x x object x x x x x', lambda e, b: [*e.ctx, e.depth_vecs[b]], 'linear', 10.0,
                      'auty_frobenius'),
    'baseline-depth7': (dict(template='baseline', depth_tokens='depth-7'),
                        lambda b: f'This object appears to be {DEPTH7[b]}', None, 'linear', 10.0, 'auty_frobenius'),
    'kitti-learned256-log': (dict(template='baseline', depth_tokens='learned-256', bins='log', max_depth=80.0),
                             lambda b: 'This object appears to be x', lambda e, b: [e.depth_vecs[b]], 'log', 80.0,
                             'auty_frobenius'),
    'depthclip-zeroshot': (dict(template='depthclip', depth_tokens='depthclip', bins='depthclip',
                                text_norm='depthclip'),
                           lambda b: f'This object is {DEPTHCLIP7[b]}', None, 'depthclip', 10.0, 'depthclip'),
}


def centres(kind, n, lo, hi):
    """Bin centres by the papers' formulas, held as float32 as the authors' ``torch.tensor(bin_centres)``."""
    i = np.arange(n) + 0.5
    if kind == 'linear':
        c = lo + i * (hi - lo) / n
    elif kind == 'log':
        c = np.exp(np.log(lo) + i * (np.log(hi) - np.log(lo)) / n)
    else:
        c = np.array([1.0, 1.5, 2.0, 2.25, 2.5, 2.75, 3.0])
    return torch.tensor(c, dtype=torch.float32).double()


def nyu_crop(h=416, w=544):
    """The centre h x w of the bundled real NYU frame, ImageNet-normalised, (1, 3, h, w) float64."""
    img = mmcv.imread(NYU_RGB, channel_order='rgb').astype(np.float64) / 255.0
    top, left = (img.shape[0] - h) // 2, (img.shape[1] - w) // 2
    img = (img[top:top + h, left:left + w] - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    return torch.from_numpy(img).permute(2, 0, 1)[None]


def build(case, dtype=torch.float64, clip=None, **overrides):
    kwargs, *_ = CASES[case]
    cfg = tiny_model_cfg(test_mode='whole_flip', **dict(kwargs, **overrides))
    if clip is not None:
        cfg['clip'] = clip
    torch.manual_seed(0)
    model = MODELS.build(cfg).to(dtype)
    enc = model.decode_head.text_encoder
    with torch.no_grad():  # move the tokens away from their init so every slot matters
        for t in enc.learnable_tensors():
            t.normal_(0, 0.5)
    return model


def reference_for(model, case, images, out_hw, flip=True, bn_train=False, stats=None, learned=None,
                  activation='quick_gelu'):
    _, sentence, vectors, kind, max_d, norm = CASES[case]
    enc = model.decode_head.text_encoder
    sd = {k: v.detach() for k, v in model.clip_model.state_dict().items()}
    n = enc.num_bins
    if learned is None and vectors is not None:
        learned = [torch.stack(vectors(enc, b)) for b in range(n)]
    text = reference_prompt_features(sd, [sentence(b) for b in range(n)], HEADS, learned, norm, activation)
    c = centres(kind, n, 1e-3, max_d)
    return reference_depth(sd, images, text, c, out_hw, 1e-3, max_d, flip=flip, bn_train=bn_train, stats=stats)


def model_depth(model, images):
    h, w = images.shape[-2:]
    metas = [dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w))] * images.shape[0]
    model.eval()
    with torch.no_grad():
        return model.inference(images, metas)


def rel(a, b):
    return float((a.detach() - b.detach()).abs().max() / b.detach().abs().max())


@pytest.mark.parametrize('case', list(CASES))
def test_depth_equals_independent_reference_float64(case):
    model = build(case)
    images = nyu_crop(96, 128)
    expected = reference_for(model, case, images, (96, 128))
    got = model_depth(model, images)
    assert got.shape == expected.shape == (1, 1, 96, 128)
    assert expected.max() - expected.min() > 1e-4  # a non-trivial map, so a mutation has something to move
    assert rel(got, expected) < 1e-9


def test_depth_equals_reference_float32_on_real_frame_416x544():
    model = build('404d-learned7', dtype=torch.float32)
    images = nyu_crop()
    got = model_depth(model, images.float()).double()
    model64 = model.double()
    expected = reference_for(model64, '404d-learned7', images, (416, 544))
    assert (got - expected).abs().max() < 1e-4


@pytest.mark.parametrize('case', ['baseline-learned7', '404d-learned7'])
def test_training_step_loss_gradients_and_bn_statistics_equal_reference(case):
    """One training step of the faithful model (bn_mode='train': batch statistics, running statistics updated)
    against the reference: SILog pooled over the batch, token gradients, every BatchNorm running statistic."""
    model = build(case)
    images = torch.cat([nyu_crop(64, 96), nyu_crop(64, 96).flip(2)])
    gen = torch.Generator().manual_seed(1)
    gt = 0.5 + 9 * torch.rand(2, 1, 64, 96, generator=gen, dtype=torch.float64)
    gt[torch.rand(gt.shape, generator=gen) < 0.2] = 0  # invalid pixels
    sd0 = {k: v.clone() for k, v in model.clip_model.state_dict().items()}
    enc = model.decode_head.text_encoder
    # reference: leaf copies of the tokens, BN statistics in a dict
    vectors = CASES[case][2]
    leaves = [t.detach().clone().requires_grad_(True) for t in enc.learnable_tensors()]
    shadow = type('E', (), {})()
    shadow.depth_vecs = leaves[-1]
    shadow.ctx = leaves[0] if len(leaves) > 1 else None
    learned = [torch.stack(vectors(shadow, b)) for b in range(enc.num_bins)]
    stats = {}
    _, sentence, _, kind, max_d, norm = CASES[case]
    sd = {k: v.detach() for k, v in sd0.items()}
    text = reference_prompt_features(sd, [sentence(b) for b in range(enc.num_bins)], HEADS, learned, norm)
    d = reference_bin_depth(reference_image_trunk(sd, images, True, stats), text,
                            centres(kind, enc.num_bins, 1e-3, max_d))
    d = F.interpolate(d, size=(64, 96), mode='bilinear', align_corners=True)
    loss_ref = reference_silog(d, gt)
    loss_ref.backward()

    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    samples = []
    for i in range(2):
        s = SegDataSample()
        s.set_metainfo(dict(img_shape=(64, 96), ori_shape=(64, 96), pad_shape=(64, 96)))
        s.gt_depth_map = PixelData(data=gt[i])
        samples.append(s)
    model.train()
    loss, _ = model.parse_losses(model.loss(images, samples))
    loss.backward()
    assert abs(loss.item() - loss_ref.item()) / loss_ref.item() < 1e-9
    for t, leaf in zip(enc.learnable_tensors(), leaves):
        assert leaf.grad.norm() > 0
        assert float((t.grad - leaf.grad).norm() / leaf.grad.norm()) < 1e-9
    after = model.clip_model.state_dict()
    moved = 0
    for key, v in stats.items():
        assert torch.allclose(after[key], v, rtol=1e-9, atol=1e-12), key
        moved += not torch.equal(v, sd0[key])
    assert moved == len(stats) > 0  # every running statistic moved, as in the authors' (never eval) CLIP


# ----------------------------------------------------------------------------------------- the reference can fail
def _mutated(name):
    """(model, case) with one plausible bug introduced."""
    if name == 'gelu_activation':
        return build('baseline-learned7', clip=dict(TINY_CLIP, quick_gelu=False)), 'baseline-learned7'
    if name == 'per_prompt_norm_only':
        return build('baseline-learned7', text_norm='depthclip'), 'baseline-learned7'
    if name == 'trailing_period':  # the paper prints "appears to be {depth}." - the code has no period
        return build('baseline-depth7', template='This {object} appears to be {depth}.'), 'baseline-depth7'
    if name == 'pool_before_eot':
        model = build('baseline-learned7')
        model.decode_head.text_encoder.eot_index -= 1
        return model, 'baseline-learned7'
    if name == 'odd_channels':
        model = build('baseline-learned7')

        def odd(x):
            x = x / x.norm(dim=1, keepdim=True)
            return x[:, 1::2].contiguous()

        model.backbone.raw_layer4_features = odd
        return model, 'baseline-learned7'
    raise KeyError(name)


@pytest.mark.parametrize('mutation', ['gelu_activation', 'per_prompt_norm_only', 'trailing_period',
                                      'pool_before_eot', 'odd_channels'])
def test_reference_catches(mutation):
    model, case = _mutated(mutation)
    if mutation == 'gelu_activation':
        assert text_activation(model.clip_model) == 'gelu'
    images = nyu_crop(96, 128)
    expected = reference_for(model, case, images, (96, 128))
    got = model_depth(model, images)
    assert rel(got, expected) > 1e-6  # a thousand times the float64 tolerance above, at least


def test_reference_activation_switch_is_what_moves_depth():
    """The reference itself with GELU instead of QuickGELU moves depth: the activation matters for the numbers."""
    model = build('baseline-learned7')
    images = nyu_crop(96, 128)
    a = reference_for(model, 'baseline-learned7', images, (96, 128))
    b = reference_for(model, 'baseline-learned7', images, (96, 128), activation='gelu')
    assert rel(a, b) > 1e-6
