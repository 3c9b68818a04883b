"""CLIP2Depth (mirror + FiLM + deconvolution decoder), frame-pair dataset and consistency metrics."""
import math
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.structures import PixelData
from mmseg.registry import DATASETS, MODELS
from mmseg.structures import SegDataSample

from conftest import DATA, REPO, TINY_CLIP
from mmclipdepth.datasets import frame_pair_collate
from mmclipdepth.evaluation.metrics import SpatialContinuityMetric, TemporalConsistencyMetric
from mmclipdepth.models.decode_heads import FiLM
from mmclipdepth.models.text_encoders import MirrorTextEncoder
from mmclipdepth.models.utils import load_clip

DECONV = (16, 16, 8, 8, 8)  # 5 stride-2 blocks: stride 32 -> full resolution


def tiny_mirror_cfg(num_tokens=8, use_mirror=True, extra_levels=(), **head_kwargs):
    head = dict(type='MirrorDepthHead', in_channels=128, channels=16, deconv_channels=DECONV,
                text_encoder=dict(type='MirrorTextEncoder', num_tokens=num_tokens),
                use_mirror=use_mirror, min_depth=1e-3, max_depth=10.0)
    head.update(head_kwargs)
    return dict(
        type='CLIPDepthEstimator',
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True, size_divisor=32),
        clip=dict(TINY_CLIP),
        backbone=dict(type='CLIPPromptBackbone', feature_mode='dense_attnpool', bn_mode='eval',
                      extra_levels=extra_levels),
        decode_head=head,
        test_cfg=dict(mode='whole'))


def _samples(n, h, w, depth=2.0):
    out = []
    for _ in range(n):
        s = SegDataSample()
        s.gt_depth_map = PixelData(data=torch.full((1, h, w), depth))
        s.set_metainfo(dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w)))
        out.append(s)
    return out


# ------------------------------------------------------------------------------------------- mirror
def test_mirror_is_clip_encode_text_of_a_token_sequence_pooled_at_its_last_position():
    clip = load_clip(**TINY_CLIP)
    enc = MirrorTextEncoder(clip=TINY_CLIP, clip_model=clip, num_tokens=6, normalize=True)
    enc.eval()
    with torch.no_grad():
        got = enc()
        # independent path: open_clip's own encode_text on ids 1..6 whose embedding rows hold the mirror;
        # open_clip pools at argmax(id) = position 5 = s - 1 (all 77 positions encoded, padding id 0)
        clip.token_embedding.weight[1:7] = enc.mirror
        ids = torch.zeros(1, 77, dtype=torch.long)
        ids[0, :6] = torch.arange(1, 7)
        expected = clip.encode_text(ids, normalize=True)
    assert got.shape == (1, 128) and enc.mirror.shape == (6, 32)
    torch.testing.assert_close(got, expected, rtol=0, atol=2e-6)
    assert 0.015 < enc.mirror.std().item() < 0.03  # N(0, 0.02)


def test_mirror_bad_size_and_cache_refresh():
    clip = load_clip(**TINY_CLIP)
    for s in (0, 78):
        with pytest.raises(ValueError, match=r'num_tokens \(s\) must be an int in \[1, 77\]'):
            MirrorTextEncoder(clip=TINY_CLIP, clip_model=clip, num_tokens=s)
    enc = MirrorTextEncoder(clip=TINY_CLIP, clip_model=clip, num_tokens=4)
    with torch.no_grad():
        a, b = enc(), enc()
        assert a is b  # cached while nothing can change
        enc.mirror.add_(0.5)  # an optimiser step bumps the version counter
        c = enc()
    assert c is not a and not torch.allclose(a, c)
    assert enc().requires_grad  # with grad enabled: fresh graph to the mirror


# ------------------------------------------------------------------------------------------- head
def test_film_zero_init_is_identity_and_modulates_per_channel():
    film = FiLM(16, 8)
    x, cond = torch.randn(2, 8, 3, 4), torch.randn(1, 16)
    assert torch.equal(film(x, cond), x)
    with torch.no_grad():
        film.linear.weight.copy_(torch.randn(16, 16))
        film.linear.bias.copy_(torch.randn(16))
    w, b = film.linear.weight, film.linear.bias
    gamma = cond[0] @ w[:8].T + b[:8]
    beta = cond[0] @ w[8:].T + b[8:]
    expected = x * (1 + gamma).view(1, 8, 1, 1) + beta.view(1, 8, 1, 1)
    torch.testing.assert_close(film(x, cond), expected)


def test_zero_initialised_film_makes_mirror_head_equal_to_the_no_mirror_ablation():
    with_mirror = MODELS.build(tiny_mirror_cfg()).decode_head
    without = MODELS.build(tiny_mirror_cfg(use_mirror=False)).decode_head
    assert without.text_encoder is None and without.film is None
    missing, unexpected = without.load_state_dict(with_mirror.state_dict(), strict=False)
    assert not missing and all(k.startswith(('text_encoder.', 'film.')) for k in unexpected)
    with_mirror.eval(), without.eval()
    feats = [torch.randn(2, 128, 2, 3)]
    with torch.no_grad():
        assert torch.equal(with_mirror(feats), without(feats))
        with_mirror.film.linear.weight.normal_()
        assert not torch.allclose(with_mirror(feats), without(feats))


def test_gradients_reach_only_the_mirror_and_the_decoder():
    model = MODELS.build(tiny_mirror_cfg())
    model.train()
    head = model.decode_head
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert 'decode_head.text_encoder.mirror' in trainable
    assert all(n.startswith('decode_head.') and not n.startswith('decode_head.text_encoder.core') for n in trainable)
    x = torch.randn(2, 3, 64, 96)
    # at initialisation FiLM is zero, so the mirror's gradient is exactly zero while FiLM's is not
    model.loss(x, _samples(2, 64, 96))['decode.loss_silog'].backward()
    assert torch.count_nonzero(head.text_encoder.mirror.grad) == 0
    assert head.film.linear.weight.grad.abs().sum() > 0
    model.zero_grad(set_to_none=True)
    with torch.no_grad():
        head.film.linear.weight.normal_(std=0.1)  # as after a first optimiser step
    model.loss(x, _samples(2, 64, 96))['decode.loss_silog'].backward()
    with_grad = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert 'decode_head.text_encoder.mirror' in with_grad
    assert with_grad <= trainable
    assert {'decode_head.film.linear.weight', 'decode_head.depth_conv.weight', 'decode_head.laterals.0.conv.weight',
            'decode_head.deconvs.0.0.weight'} <= with_grad
    assert not any(p.grad is not None for n, p in model.named_parameters() if not p.requires_grad)


def test_trainable_parameter_count_by_hand():
    head = MODELS.build(tiny_mirror_cfg(num_tokens=8)).decode_head
    lateral = 128 * 16 + 2 * 16  # 1x1 conv without bias + BN
    chans = (16,) + DECONV
    deconvs = sum(4 * 4 * a * b + 2 * b for a, b in zip(chans, chans[1:]))
    depth_conv = 8 * 9 + 1
    film = (128 + 1) * 2 * 128
    mirror = 8 * 32
    assert head.parameter_counts() == dict(mirror=mirror, film=film, decoder=lateral + deconvs + depth_conv,
                                           total=mirror + film + lateral + deconvs + depth_conv)
    ablation = MODELS.build(tiny_mirror_cfg(use_mirror=False)).decode_head.parameter_counts()
    assert ablation == dict(mirror=0, film=0, decoder=lateral + deconvs + depth_conv,
                            total=lateral + deconvs + depth_conv)


@pytest.mark.parametrize('hw', [(64, 96), (70, 100), (96, 64)])
def test_output_shape_equals_input_at_any_size(hw):
    model = MODELS.build(tiny_mirror_cfg())
    model.test_cfg['allow_untrained'] = True  # shapes only: random weights on purpose
    model.eval()
    with torch.no_grad():
        out = model.predict(torch.randn(1, 3, *hw))[0].pred_depth_map.data
        low = model._forward(torch.randn(1, 3, *hw))
    assert out.shape == (1, *hw)
    assert low.shape[-2:] == (hw[0] // 32 * 32, hw[1] // 32 * 32)  # the stack itself reaches full resolution
    assert out.min() >= 1e-3 and out.max() <= 10.0


def test_whole_flip_averages_at_full_resolution():
    model = MODELS.build(tiny_mirror_cfg())
    model.test_cfg['mode'] = 'whole_flip'
    model.eval()
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        got = model.inference(x, [dict(img_shape=(64, 96), ori_shape=(64, 96), pad_shape=(64, 96))])
        expected = (model._forward(x) + model._forward(x.flip(3)).flip(3)) / 2  # already 64x96
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


def test_several_levels_fused_then_deconvolved_to_full_resolution():
    cfg = tiny_mirror_cfg(in_channels=[32, 64, 128, 128], in_index=[0, 1, 2, 3], deconv_channels=(8, 8),
                          extra_levels=(1, 2, 3), film_position='decoder')
    model = MODELS.build(cfg)
    model.eval()
    assert model.decode_head.film.num_channels == 16  # FiLM on the fused decoder map
    with torch.no_grad():
        assert model._forward(torch.randn(1, 3, 64, 96)).shape == (1, 1, 64, 96)
    with pytest.raises(ValueError, match='in_index .* and in_channels .* must'):
        MODELS.build(tiny_mirror_cfg(in_channels=128, in_index=[0, 1]))
    with pytest.raises(ValueError, match='film_position'):
        MODELS.build(tiny_mirror_cfg(film_position='input'))


# ------------------------------------------------------------------------------------------- temporal
G = [np.array([[1., 2.], [4., 5.]]), np.array([[2., 2.], [3., 5.]]), np.array([[4., 1.], [3., 0.]])]
# pair (0,1): 4 valid pixels, dg = (1, 0, -1, 0); pair (1,2): 3 valid ((1,1) is 0 in frame 2), dg = (2, -1, 0)
SUM_DG, N_VALID = 2 + 3, 4 + 3
SUM_DLOG_G = 3 * math.log(2) + math.log(4 / 3)


def _pair_samples(preds, gts, first_pair_id=0):
    out = []
    for k in range(len(gts) - 1):
        for role in (0, 1):
            t = k + role
            out.append(dict(pred_depth_map=dict(data=torch.tensor(preds[t], dtype=torch.float32)[None]),
                            gt_depth_map=dict(data=torch.tensor(gts[t], dtype=torch.float32)[None]),
                            pair_id=first_pair_id + k, pair_frame=role, img_path=f'frame{t}.png'))
    return out


def _temporal(preds, gts=G):
    metric = TemporalConsistencyMetric(min_depth=1e-3, max_depth=10.0, crop='none')
    metric.process({}, _pair_samples(preds, gts))
    assert len(metric.results) == len(gts) - 1  # one result per pair = per dataset item
    return metric.compute_metrics(metric.results)


def test_temporal_perfect_constant_and_scaled_predictions():
    m = _temporal(G)
    assert m['temporal_err'] == 0 and m['temporal_err_log'] == 0 and m['temporal_change'] == 1
    assert m['temporal_pairs'] == 2
    m = _temporal([np.full((2, 2), 3.0)] * 3)  # constant output is not rewarded
    assert m['temporal_err'] == pytest.approx(1.0) and m['temporal_change'] == 0
    assert m['temporal_err_log'] == pytest.approx(1.0)
    assert m['temporal_abs_err'] == pytest.approx(SUM_DG / N_VALID)
    m = _temporal([2 * g for g in G])  # right relative change, wrong scale
    assert m['temporal_err'] == pytest.approx(1.0) and m['temporal_err_log'] == pytest.approx(0, abs=1e-12)
    assert m['temporal_change'] == pytest.approx(2.0)


def test_temporal_shifted_copies_of_the_ground_truth():
    m = _temporal([g + 0.5 for g in G])  # offset in value: no flicker in metres, some in log depth
    assert m['temporal_err'] == pytest.approx(0, abs=1e-12)
    expected_log = (2 * math.log(6 / 5) + math.log(28 / 27) + math.log(10 / 9)) / SUM_DLOG_G
    assert m['temporal_err_log'] == pytest.approx(expected_log, rel=1e-6)
    m = _temporal([G[0], G[0], G[1]])  # one frame late: pair 1 frozen (err 2), pair 2 |(1,0,-1)-(2,-1,0)| = 3
    assert m['temporal_err'] == pytest.approx((2 + 3) / SUM_DG)
    assert m['temporal_change'] == pytest.approx((0 + 2) / SUM_DG)


def test_temporal_split_over_ranks_equals_single_process_and_needs_pairs():
    preds = [g + np.array([[0.3, -0.2], [0.1, 0.7]]) * (t + 1) for t, g in enumerate(G)]
    single = _temporal(preds)
    samples = _pair_samples(preds, G)
    rank0, rank1 = TemporalConsistencyMetric(crop='none'), TemporalConsistencyMetric(crop='none')
    rank0.process({}, samples[:2])
    rank1.process({}, samples[2:])
    assert rank0.compute_metrics(rank0.results + rank1.results) == pytest.approx(single)
    with pytest.raises(KeyError, match='DepthFramePairDataset'):
        TemporalConsistencyMetric().process({}, [dict(samples[0], pair_id=None)])
    with pytest.raises(ValueError, match='pair 0 arrived incomplete'):
        TemporalConsistencyMetric().process({}, samples[:1])


# ------------------------------------------------------------------------------------------- spatial
COLS = np.arange(8, dtype=np.float64)


def approx5(v):  # maps are float32 tensors
    return pytest.approx(v, rel=1e-5)


def _spatial(pred, gt, patch=4, ori=None, img=None, pair_ids=(None, )):
    metric = SpatialContinuityMetric(patch_size=patch, min_depth=1e-3, max_depth=10.0, crop='none')
    samples = []
    for pid in pair_ids:
        s = dict(pred_depth_map=dict(data=torch.tensor(pred, dtype=torch.float32)[None]),
                 gt_depth_map=dict(data=torch.tensor(gt, dtype=torch.float32)[None]), img_path='x.png')
        if pid is not None:
            s.update(pair_id=pid, pair_frame=len(samples))
        if ori is not None:
            s.update(ori_shape=ori, img_shape=img)
        samples.append(s)
    metric.process({}, samples)
    return metric.compute_metrics(metric.results), metric.results


def test_spatial_seam_on_the_grid_line_shifted_copy_and_constant():
    # 4x8 map, patch 4: one grid line between columns 3 and 4 (rows are all in one cell).
    seam = np.tile(1.0 + 0.1 * COLS + (COLS >= 4), (4, 1))  # step of 1 on the grid line over a 0.1 ramp
    # across: 4 diffs of 1.1; inside: 24 horizontal diffs of 0.1 + 24 vertical zeros
    m, _ = _spatial(seam, seam)
    assert m['spatial_pred'] == approx5((4.4 / 4) / (2.4 / 48))  # 22
    assert m['spatial_gt'] == approx5(22.0) and m['spatial_pred_on_gt'] == approx5(22.0)
    shifted = np.tile(1.0 + 0.1 * COLS + (COLS >= 2), (4, 1))  # same edge two pixels inside a patch
    m, _ = _spatial(shifted, seam)
    assert m['spatial_pred'] == approx5((0.4 / 4) / ((4 * 1.1 + 20 * 0.1) / 48))  # 0.75
    m, _ = _spatial(np.full((4, 8), 3.0), seam)
    assert m['spatial_pred'] == 1.0  # no gradient at all: no seam


def test_spatial_gt_mask_scaled_grid_and_pairs():
    seam = np.tile(1.0 + 0.1 * COLS + (COLS >= 4), (4, 1))
    ramp = np.tile(1.0 + 0.1 * COLS, (4, 1))
    gt = seam.copy()
    gt[0, 4] = 0.0  # invalid: drops 1 across pair and 2 inside pairs from the GT-masked sums
    m, res = _spatial(ramp, gt)
    assert res[0]['gt_across_n'] == 3 and res[0]['gt_inside_n'] == 46
    assert m['spatial_gt'] == approx5((3 * 1.1 / 3) / (2.3 / 46))
    assert m['spatial_pred_on_gt'] == approx5((3 * 0.1 / 3) / (2.3 / 46))  # 2.0
    assert m['spatial_pred'] == approx5((4 * 0.1 / 4) / (2.4 / 48))
    # network input twice the GT frame with patch 8 -> the same grid line in GT pixels
    m_scaled, _ = _spatial(seam, seam, patch=8, ori=(4, 8), img=(8, 16))
    assert m_scaled['spatial_pred'] == approx5(22.0)
    # both frames of a pair are summed into one result (one per dataset item)
    _, res = _spatial(seam, seam, pair_ids=(7, 7))
    assert len(res) == 1 and res[0]['pred_across_n'] == 8


# ------------------------------------------------------------------------------------------- pairs dataset
NYU_TEST_PIPELINE = [dict(type='LoadImageFromFileStrict'), dict(type='LoadDepthPNG', depth_scale=1000.0),
                     dict(type='KBCrop', height=128, width=160),
                     dict(type='PackSegInputs', meta_keys=('img_path', 'ori_shape', 'img_shape', 'scene'))]


def _nyu_pairs(**kw):
    inner = dict(type='NYUDepthV2Dataset', data_root=osp.join(DATA, 'nyu'), split='train',
                 split_file=kw.pop('split_file', 'splits/nyu_train_samples.txt'), test_mode=True,
                 pipeline=NYU_TEST_PIPELINE)
    return DATASETS.build(dict(type='DepthFramePairDataset', dataset=inner, **kw))


def test_frame_pairs_of_a_sequence_and_collate(tmp_path):
    ds = _nyu_pairs()
    assert len(ds) == 2
    assert [(m['sequence'], m['frame_index']) for m in ds.pair_meta] == [('basement_0001a', (0, 50)),
                                                                          ('basement_0001a', (50, 100))]
    batch = frame_pair_collate([ds[0], ds[1]])
    meta = [(s.pair_id, s.pair_frame, osp.basename(s.img_path)) for s in batch['data_samples']]
    assert meta == [(0, 0, 'rgb_00000.jpg'), (0, 1, 'rgb_00050.jpg'), (1, 0, 'rgb_00050.jpg'),
                    (1, 1, 'rgb_00100.jpg')]
    assert batch['inputs'][0].shape == (3, 128, 160)
    assert len(_nyu_pairs(sequences=['basement_0001a'], max_frame_gap=50)) == 2
    with pytest.raises(ValueError, match='no pair of consecutive frames'):
        _nyu_pairs(max_frame_gap=49)
    with pytest.raises(ValueError, match=r"sequences \['kitchen_0001'\] are not in"):
        _nyu_pairs(sequences=['kitchen_0001'])
    split = tmp_path / 'dup.txt'
    line = '/basement_0001a/rgb_00000.jpg /basement_0001a/sync_depth_00000.png 518.8579\n'
    split.write_text(line + line)
    with pytest.raises(ValueError, match='frame 0 of sequence .basement_0001a. is listed twice'):
        _nyu_pairs(split_file=str(split))


def test_make_sequence_split_tool_lists_whole_sequences(tmp_path):
    import importlib.util
    spec = importlib.util.spec_from_file_location('mss', osp.join(REPO, 'tools/analysis/make_sequence_split.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    kitti_root = osp.join(DATA, 'kitti')
    out = tmp_path / 'kitti_seq.txt'
    assert tool.main(['kitti', kitti_root, '--drives-from', 'splits/kitti_eigen_samples.txt', '--out', str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == ('2011_09_26/2011_09_26_drive_0001_sync/image_02/data/0000000005.png '
                        '2011_09_26_drive_0001_sync/proj_depth/groundtruth/image_02/0000000005.png 721.5377')
    assert len(lines) == 3
    pairs = DATASETS.build(dict(type='DepthFramePairDataset', dataset=dict(
        type='KITTIEigenDataset', data_root=kitti_root, split='test', split_file=str(out), test_mode=True)))
    assert [m['frame_index'] for m in pairs.pair_meta] == [(5, 50), (50, 100)]
    assert pairs.pair_meta[0]['sequence'] == '2011_09_26/2011_09_26_drive_0001_sync/image_02/data'
    out = tmp_path / 'nyu_seq.txt'
    assert tool.main(['nyu', osp.join(DATA, 'nyu'), '--scenes', 'basement_0001a', '--out', str(out)]) == 0
    assert out.read_text().splitlines()[1] == ('/basement_0001a/rgb_00050.jpg /basement_0001a/sync_depth_00050.png '
                                               '518.8579')
    assert tool.main(['nyu', osp.join(DATA, 'nyu'), '--scenes', 'kitchen_0001', '--out', str(out)]) == 1


# ------------------------------------------------------------------------------------------- end to end
@pytest.mark.parametrize('name', ['nyu', 'kitti'])
def test_two_iterations_train_then_consistency_test_through_runner(name, tmp_path, monkeypatch):
    from mmengine.runner import Runner
    # the Runner logs, dumps and checkpoints the config through yapf (pretty_text): ~3 s a call on
    # this machine and irrelevant here
    monkeypatch.setattr(Config, 'pretty_text', property(lambda self: self.text))
    cfg = Config.fromfile(osp.join(REPO, f'configs/mirror/{name}_mirror64_deconv_consistency.py'))
    samples = Config.fromfile(osp.join(REPO, f'configs/_base_/datasets/{name}_samples.py'))
    cfg.train_dataloader = samples.train_dataloader
    for t in cfg.train_dataloader.dataset.pipeline:
        if t.type == 'RandomCrop':
            t.crop_size = (64, 96)
    inner = cfg.test_dataloader.dataset.dataset
    inner.data_root = samples.test_dataloader.dataset.data_root
    inner.split_file = {'nyu': 'splits/nyu_train_samples.txt', 'kitti': 'splits/kitti_eigen_samples.txt'}[name]
    cfg.test_dataloader.dataset.max_frame_gap = None
    cfg.test_dataloader.update(num_workers=0, persistent_workers=False)
    for t in inner.pipeline:
        if t.type == 'KBCrop':
            t.update(height=128, width=160)
    if name == 'nyu':
        inner.pipeline.insert(2, dict(type='KBCrop', height=128, width=160))
    for ev in cfg.test_evaluator:
        ev.crop = 'none'
    cfg.model.clip = dict(TINY_CLIP)
    cfg.model.decode_head.text_encoder.update(num_tokens=8)
    cfg.model.decode_head.update(in_channels=128, channels=16, deconv_channels=DECONV)
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1, val_interval=1)
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    for s in cfg.param_scheduler:
        s.total_steps = 1
    cfg.default_hooks.logger.interval = 1
    cfg.work_dir = str(tmp_path)
    runner = Runner.from_cfg(cfg)
    model = runner.model
    bn_before = model.backbone.visual.bn1.running_mean.clone()
    film_before = model.decode_head.film.linear.weight.detach().clone()
    runner.train()
    assert runner.iter == 2  # 3 samples (KITTI: one GT-less line skipped -> 3), batch 2
    assert math.isfinite(runner.message_hub.get_scalar('train/loss').current())
    assert not torch.equal(film_before, model.decode_head.film.linear.weight)  # decoder trained
    assert torch.equal(bn_before, model.backbone.visual.bn1.running_mean)  # CLIP untouched (bn_mode eval)
    assert osp.isfile(osp.join(tmp_path, 'epoch_1.pth'))
    metrics = runner.test()
    assert metrics['temporal_pairs'] == 2
    for key in ('temporal_err', 'temporal_err_log', 'temporal_change', 'spatial_pred', 'spatial_gt'):
        assert math.isfinite(metrics[key]) and metrics[key] >= 0, key
