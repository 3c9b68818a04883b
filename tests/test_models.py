"""Backbone, head, loss, bins and estimator against independent computations."""
import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmengine.structures import PixelData

from conftest import TINY_CLIP, TINY_CLIP_ARCH, TINY_VIT_ARCH, tiny_model_cfg
from mmclipdepth.models.decode_heads.bin_weighted_depth_head import bin_centres
from mmclipdepth.models.losses import SILogLoss


# ------------------------------------------------------------------------------------------- bins
def test_bin_centres_closed_forms():
    torch.testing.assert_close(bin_centres('linear', 2, 1.0, 3.0), torch.tensor([1.5, 2.5]))
    torch.testing.assert_close(bin_centres('log', 2, 1.0, 100.0),
                               torch.tensor([10 ** 0.5, 10 ** 1.5]))
    lin = bin_centres('linear', 7, 0.001, 10.0)
    assert lin[0].item() == pytest.approx(0.001 + 0.5 * 9.999 / 7, rel=1e-6)
    assert lin[-1].item() == pytest.approx(0.001 + 6.5 * 9.999 / 7, rel=1e-6)
    log = bin_centres('log', 256, 0.001, 80.0)
    assert log[0].item() == pytest.approx(math.exp(math.log(0.001) + 0.5 * math.log(80000) / 256), rel=1e-6)
    torch.testing.assert_close(bin_centres('depthclip', 7, 0.001, 10),
                               torch.tensor([1.0, 1.5, 2.0, 2.25, 2.5, 2.75, 3.0]))
    with pytest.raises(ValueError, match='text encoder has 7 prompts'):
        bin_centres([1.0, 2.0], 7, 0.001, 10)
    with pytest.raises(ValueError, match="'linear', 'log'"):
        bin_centres('cubic', 7, 0.001, 10)


# ------------------------------------------------------------------------------------------- loss
def test_silog_loss_matches_formula_by_hand():
    pred = torch.tensor([2.0, 4.0, 1.0, 3.0]).view(1, 1, 2, 2)
    gt = torch.tensor([1.0, 1.0, 0.0, 0.0005]).view(1, 1, 2, 2)  # last two invalid (<= min_depth)
    g = np.log([2.0, 4.0])
    expected = 10 * math.sqrt((g ** 2).mean() - 0.85 * g.mean() ** 2)
    assert SILogLoss()(pred, gt).item() == pytest.approx(expected, rel=1e-6)
    # pooled over the batch, not averaged per image
    pred2 = torch.tensor([2.0, 4.0, 8.0]).view(3, 1, 1, 1)
    gt2 = torch.ones(3, 1, 1, 1)
    g2 = np.log([2.0, 4.0, 8.0])
    expected2 = 5 * math.sqrt((g2 ** 2).mean() - 0.5 * g2.mean() ** 2)
    assert SILogLoss(lambd=0.5, scale=5)(pred2, gt2).item() == pytest.approx(expected2, rel=1e-6)
    # max_depth excludes pixels too
    assert SILogLoss(max_depth=1.5)(pred2, torch.tensor([1.0, 1.0, 2.0]).view(3, 1, 1, 1)).item() == \
        pytest.approx(10 * math.sqrt(((np.log([2.0, 4.0])) ** 2).mean() - 0.85 * np.log([2, 4]).mean() ** 2),
                      rel=1e-6)


def test_silog_loss_all_invalid_is_zero_with_valid_backward():
    pred = torch.rand(2, 1, 3, 3, requires_grad=True)
    loss = SILogLoss()(pred + 0.5, torch.zeros(2, 1, 3, 3))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() == 0


def test_silog_loss_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match='resize the prediction'):
        SILogLoss()(torch.ones(1, 1, 2, 2), torch.ones(1, 1, 4, 4))


# ------------------------------------------------------------------------------------------- backbone
def test_raw_layer4_equals_independent_recomputation():
    bb = MODELS.build(dict(type='CLIPPromptBackbone', clip=TINY_CLIP, bn_mode='eval'))
    bb.eval()
    x = torch.randn(2, 3, 100, 130)
    with torch.no_grad():
        # open_clip's own trunk path (forward_intermediates), not the backbone's code
        raw = bb.visual.forward_intermediates(x, indices=1, intermediates_only=True)['image_intermediates'][0]
        (feat, ) = bb(x)
    expected = (raw / raw.norm(dim=1, keepdim=True))[:, 0::2]  # normalise, keep even channels
    assert feat.shape == (2, 128, 100 // 32, 130 // 32)
    torch.testing.assert_close(feat, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize('hw', [(64, 64), (96, 160), (416 // 4, 544 // 4)])
def test_feature_size_is_floor_of_stride_32_for_any_input(hw):
    bb = MODELS.build(dict(type='CLIPPromptBackbone', clip=TINY_CLIP, feature_mode='dense_attnpool'))
    out = bb(torch.randn(1, 3, *hw))
    assert out[-1].shape == (1, 128, hw[0] // 32, hw[1] // 32)
    torch.testing.assert_close(out[-1].norm(dim=1), torch.ones(1, hw[0] // 32, hw[1] // 32))


def test_dense_attnpool_equals_attention_pool_value_path_on_native_grid():
    # on the native 2x2 grid the per-position value path is c_proj(v_proj(x + pos)), computed independently
    bb = MODELS.build(dict(type='CLIPPromptBackbone', clip=TINY_CLIP, feature_mode='dense_attnpool',
                           extra_levels=(4 - 1, )))
    bb.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        l3, feat = bb(x)
        l4 = bb.visual.layer4(l3)
        pool = bb.visual.attnpool
        tokens = l4.flatten(2).transpose(1, 2) + pool.positional_embedding[1:]
        expected = F.normalize(pool.c_proj(pool.v_proj(tokens)), dim=-1).transpose(1, 2).reshape(1, -1, 2, 2)
    torch.testing.assert_close(feat, expected, rtol=0, atol=1e-5)


def test_vit_backbone_gives_projected_patch_tokens():
    clip = dict(model_name='ViT-B-16', pretrained=None, arch_cfg=TINY_VIT_ARCH)
    bb = MODELS.build(dict(type='CLIPPromptBackbone', clip=clip))
    bb.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        (feat, ) = bb(x)
        v = bb.visual
        v.output_tokens = True
        _, tokens = v(x)  # open_clip's own path: patch tokens after ln_post (no projection)
        v.output_tokens = False
        expected = F.normalize(tokens @ v.proj, dim=-1).transpose(1, 2).reshape(1, -1, 4, 4)
    assert feat.shape == (1, 48, 4, 4)
    torch.testing.assert_close(feat, expected, rtol=0, atol=1e-5)
    assert bb(torch.randn(1, 3, 96, 128))[0].shape == (1, 48, 6, 8)  # positional embedding resized


def test_backbone_is_frozen_without_graph_and_bn_modes():
    bb = MODELS.build(dict(type='CLIPPromptBackbone', clip=TINY_CLIP, bn_mode='train'))
    bb.train()
    x = torch.randn(2, 3, 64, 64, requires_grad=True)
    (feat, ) = bb(x)
    assert feat.grad_fn is None and not any(p.requires_grad for p in bb.parameters())
    bn = bb.visual.bn1
    assert bn.training
    before = bn.running_mean.clone()
    bb(torch.randn(2, 3, 64, 64) * 3 + 1)
    assert not torch.equal(before, bn.running_mean)  # faithful: statistics keep updating
    bb_eval = MODELS.build(dict(type='CLIPPromptBackbone', clip=TINY_CLIP, bn_mode='eval'))
    bb_eval.train()
    assert not bb_eval.visual.bn1.training
    before = bb_eval.visual.bn1.running_mean.clone()
    bb_eval(torch.randn(2, 3, 64, 64) * 3 + 1)
    assert torch.equal(before, bb_eval.visual.bn1.running_mean)


def test_backbone_bad_arguments():
    with pytest.raises(ValueError, match='bn_mode'):
        MODELS.build(dict(type='CLIPPromptBackbone', clip=TINY_CLIP, bn_mode='frozen'))
    with pytest.raises(ValueError, match='feature_mode'):
        MODELS.build(dict(type='CLIPPromptBackbone', clip=TINY_CLIP, feature_mode='attnpool'))


# ------------------------------------------------------------------------------------------- head
def test_head_is_softmax_weighted_sum_of_bin_centres():
    model = MODELS.build(tiny_model_cfg(bins='linear', max_depth=10.0))
    head = model.decode_head
    head.eval()
    feat = F.normalize(torch.randn(1, 128, 2, 3), dim=1)
    with torch.no_grad():
        depth = head([feat])
        text = head.text_encoder().numpy().astype(np.float64)
    f = feat[0].permute(1, 2, 0).numpy().astype(np.float64)  # h, w, C
    logits = 100.0 * (f @ text.T) / 0.1
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    centres = 0.001 + (np.arange(7) + 0.5) * 9.999 / 7
    np.testing.assert_allclose(depth[0, 0].numpy(), p @ centres, rtol=1e-5, atol=1e-5)


def test_head_predict_upsamples_align_corners_and_clamps():
    model = MODELS.build(tiny_model_cfg())
    head = model.decode_head
    head.eval()
    low = torch.tensor([[[[1.0, 3.0], [float('nan'), float('inf')]]]])
    out = head.predict_by_feat(low, [dict(img_shape=(3, 3), ori_shape=(3, 3))])
    # align_corners=True keeps the corners; NaN -> min, inf -> max
    assert out.shape == (1, 1, 3, 3)
    assert out[0, 0, 0, 0].item() == pytest.approx(1.0)
    assert out[0, 0, 0, 2].item() == pytest.approx(3.0)
    assert out[0, 0, 0, 1].item() == pytest.approx(2.0)
    assert out[0, 0, 2, 0].item() == pytest.approx(1e-3) and out[0, 0, 2, 2].item() == pytest.approx(10.0)
    assert out[0, 0, 1, 0].item() == pytest.approx((1.0 + 1e-3) / 2)


def test_zero_shot_depthclip_prompts_give_finite_depth_in_bin_range():
    cfg = tiny_model_cfg(template='depthclip', depth_tokens='depthclip', bins='depthclip',
                         text_norm='depthclip', test_mode='whole')
    model = MODELS.build(cfg)
    model.eval()
    assert model.decode_head.text_encoder.prompt_texts[0] == 'This object is giant'
    with torch.no_grad():
        out = model.predict(torch.randn(2, 3, 96, 128))
    d = torch.stack([s.pred_depth_map.data for s in out])
    assert d.shape == (2, 1, 96, 128)
    assert torch.isfinite(d).all() and d.min() >= 1.0 - 1e-6 and d.max() <= 3.0 + 1e-6


def _samples(n, h, w, depth=2.0):
    out = []
    for _ in range(n):
        s = SegDataSample()
        s.gt_depth_map = PixelData(data=torch.full((1, h, w), depth))
        s.set_metainfo(dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w)))
        out.append(s)
    return out


def test_estimator_loss_backward_reaches_only_tokens():
    model = MODELS.build(tiny_model_cfg(template='404d'))
    model.train()
    losses = model.loss(torch.randn(2, 3, 64, 96), _samples(2, 64, 96))
    assert set(losses) == {'decode.loss_silog'}
    losses['decode.loss_silog'].backward()
    grads = {n for n, p in model.named_parameters() if p.grad is not None}
    assert grads == {'decode_head.text_encoder.ctx', 'decode_head.text_encoder.depth_vecs'}


def test_one_clip_per_model_handed_to_both_towers():
    model = MODELS.build(tiny_model_cfg())
    # one instance: the image tower and the text tower are its modules, not copies
    assert model.clip_model.transformer is model.decode_head.text_encoder.core.transformer
    assert model.clip_model.visual is model.backbone.visual
    assert model.clip == TINY_CLIP
    # not a submodule: each tower's parameters are registered once, in the part that uses it
    names = [n for n, _ in model.named_parameters()]
    assert len(names) == len(set(id(p) for p in model.parameters()))
    assert not any(n.startswith('clip_model.') for n in names)


@pytest.mark.parametrize('where', ['backbone', 'text_encoder'])
def test_per_tower_clip_refused_with_where_it_moved(where):
    cfg = tiny_model_cfg()
    part = cfg['backbone'] if where == 'backbone' else cfg['decode_head']['text_encoder']
    part['clip'] = dict(TINY_CLIP)
    key = 'model.backbone.clip' if where == 'backbone' else 'model.decode_head.text_encoder.clip'
    with pytest.raises(ValueError, match=re.escape(key) + r'.*Move that dict to model\.clip.*model\.clip\.pretrained='):
        MODELS.build(cfg)


def test_model_clip_without_a_clip_part_refused():
    cfg = tiny_model_cfg(in_channels=64)
    cfg['backbone'] = dict(type='ResNetV1c', depth=18, base_channels=8, num_stages=4, out_indices=(3, ))
    cfg['decode_head'] = dict(type='DepthAdapterHead', max_depth=10.0,
                              head=dict(type='FCNHead', in_channels=64, channels=16, num_convs=1, concat_input=False))
    with pytest.raises(ValueError, match=r'model\.clip=.*no part of this model takes CLIP.*delete model\.clip'):
        MODELS.build(cfg)
    del cfg['clip']
    assert MODELS.build(cfg).clip_model is None


def test_whole_flip_averages_at_low_resolution_before_upsampling():
    torch.manual_seed(0)
    model = MODELS.build(tiny_model_cfg(test_mode='whole_flip'))
    model.eval()
    x = torch.randn(1, 3, 64, 96)
    metas = [dict(img_shape=(64, 96), ori_shape=(64, 96), pad_shape=(64, 96))]
    with torch.no_grad():
        got = model.inference(x, metas)
        low = (model._forward(x) + model._forward(x.flip(3)).flip(3)) / 2
        expected = F.interpolate(low, size=(64, 96), mode='bilinear', align_corners=True)
    # the model batches image and mirror in one forward: convolution round-off differs at ~1e-7
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_slide_mode_really_slides():
    cfg = tiny_model_cfg(test_mode='slide')
    cfg['test_cfg'] = dict(mode='slide', crop_size=(64, 64), stride=(64, 64))
    model = MODELS.build(cfg)
    model.eval()
    x = torch.randn(1, 3, 64, 128)
    metas = [dict(img_shape=(64, 128), ori_shape=(64, 128), pad_shape=(64, 128))]
    with torch.no_grad():
        got = model.inference(x, metas)
        left = model.decode_head.predict_by_feat(model._forward(x[..., :64]), [dict(img_shape=(64, 64))])
        whole = model.whole_inference(x, metas)
    torch.testing.assert_close(got[..., :64], left, rtol=0, atol=1e-6)
    assert not torch.allclose(got, whole)  # mmseg 1.2.2 returned whole-image inference here


# ------------------------------------------------------------------------------------------- mixing
def test_mmseg_resnet_under_bin_weighted_head():
    cfg = tiny_model_cfg(in_channels=64)
    cfg['backbone'] = dict(type='ResNetV1c', depth=18, base_channels=8, num_stages=4, out_indices=(3, ),
                           norm_cfg=dict(type='BN', requires_grad=True))
    model = MODELS.build(cfg)
    model.train()
    losses = model.loss(torch.randn(2, 3, 64, 64), _samples(2, 64, 64))
    losses['decode.loss_silog'].backward()
    assert model.decode_head.proj.weight.grad is not None
    assert model.backbone.stem[0].weight.grad is not None


def test_clip_backbone_under_mmseg_decode_head_adapted_to_depth():
    cfg = tiny_model_cfg()
    cfg['decode_head'] = dict(type='DepthAdapterHead', max_depth=10.0,
                              head=dict(type='FCNHead', in_channels=128, channels=16, num_convs=1,
                                        concat_input=False))
    model = MODELS.build(cfg)
    model.train()
    losses = model.loss(torch.randn(2, 3, 64, 64), _samples(2, 64, 64))
    losses['decode.loss_silog'].backward()
    assert model.decode_head.head.conv_seg.weight.grad is not None
    model.eval()
    with torch.no_grad():
        d = model.predict(torch.randn(1, 3, 64, 64))[0].pred_depth_map.data
    assert d.shape == (1, 64, 64) and d.min() > 0 and d.max() <= 10.0
