"""The other paths (docs/reliability.md, "Non-finite values, units and names"): non-finite training, metrics
on non-finite predictions, zero-shot units and keys, scene names, LLM-MDE prompt length. One test per case,
through the CLI or the public API, asserting the exit code / error and the file, key or value it names."""
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import CHILD_THREADS, REPO, tiny_runner_cfg

NYU7 = 'configs/clipdepth/nyu_baseline_learned7.py'
ENV = dict(os.environ, OMP_NUM_THREADS=CHILD_THREADS, HF_HUB_OFFLINE='1',
           PYTHONPATH=os.pathsep.join([REPO, osp.join(REPO, 'tests'), os.environ.get('PYTHONPATH', '')]))


def _poisoned_cfg(tmp_path, max_iters):
    """Tiny NYU learned-7 training whose 2nd batch is NaN (tests/helpers/poison_batch.py), a checkpoint each iter."""
    cfg = tiny_runner_cfg(NYU7, work_dir=str(tmp_path / 'w'), max_iters=max_iters)
    cfg.default_hooks.checkpoint = dict(type='SafeCheckpointHook', by_epoch=False, interval=1, max_keep_ckpts=5)
    cfg.train_cfg.val_interval = 1000
    cfg.custom_hooks = [dict(type='PoisonBatchHook', at_iter=2)]
    cfg.custom_imports = dict(imports=['mmclipdepth', 'helpers.poison_batch'], allow_failed_imports=False)
    path = str(tmp_path / 'poisoned.py')
    cfg.dump(path)
    return path, cfg.work_dir


def _train(path, *extra):
    return subprocess.run([sys.executable, osp.join(REPO, 'tools/train.py'), path, *extra], capture_output=True,
                          text=True, timeout=600, cwd=REPO, env=ENV)


def _tokens(path):
    from mmclipdepth._compat import safe_torch_load
    state = safe_torch_load(path)['state_dict']
    return state['decode_head.text_encoder.depth_vecs']


def test_non_finite_loss_stops_training_naming_the_iteration(tmp_path):
    path, work = _poisoned_cfg(tmp_path, max_iters=2)
    out = _train(path)
    assert out.returncode != 0
    assert 'NonFiniteLossError: training stopped at iteration 2' in out.stderr, out.stderr[-3000:]
    assert 'loss=nan' in out.stderr
    assert osp.isfile(osp.join(work, 'iter_1.pth'))  # the finite iteration was saved ...
    assert not osp.exists(osp.join(work, 'iter_2.pth'))  # ... the non-finite one never is
    assert torch.isfinite(_tokens(osp.join(work, 'iter_1.pth'))).all()


def test_amp_guard_skips_a_non_finite_batch_under_cpu_autocast(tmp_path):
    path, work = _poisoned_cfg(tmp_path, max_iters=3)
    out = _train(path, '--amp')
    assert out.returncode == 0, out.stderr[-3000:]
    log = out.stdout + out.stderr
    assert 'non-finite loss or gradient at iteration 2: the step is skipped' in log
    assert '1 step(s) skipped so far' in log and 'amp_skipped_steps: 1' in log
    t1, t2, t3 = (_tokens(osp.join(work, f'iter_{i}.pth')) for i in (1, 2, 3))
    assert torch.equal(t1, t2)  # the skipped step left the learned tokens exactly as they were (no update at all)
    assert not torch.equal(t2, t3) and torch.isfinite(t3).all()  # training went on with the next batch
    from mmclipdepth._compat import safe_torch_load
    ck = safe_torch_load(osp.join(work, 'iter_3.pth'))
    assert ck['optimizer']['amp_skipped_steps'] == 1
    bn = {k: v for k, v in ck['state_dict'].items() if k.endswith('running_mean')}
    assert bn and all(torch.isfinite(v).all() for v in bn.values())  # the NaN batch's BN statistics were put back


# ------------------------------------------------------------------------------------------- LLM-MDE prompt length
def test_llm_mde_prompt_longer_than_the_positions_is_refused_at_build():
    from mmseg.registry import MODELS
    from test_llm_mde import TINY_BERT, tiny_model_cfg
    import mmclipdepth  # noqa: F401
    short = dict(TINY_BERT, max_position_embeddings=40)
    cfg = tiny_model_cfg(language_model=dict(embed_model=short, decoder_model=short))
    with pytest.raises(ValueError) as err:
        MODELS.build(cfg)
    msg = str(err.value)
    # 32x32 input, 8-pixel patches: 16 patches + CLS, the last patch dropped (faithful): 16 image tokens
    assert 'plus the 16 image tokens' in msg and 'max_position_embeddings 40' in msg
    assert 'model.prompt_generator.description' in msg and 'model.language_model.decoder_model' in msg
    MODELS.build(tiny_model_cfg())  # the default 512 positions hold the prompt: builds


# ------------------------------------------------------------------------------------------- zero-shot units and keys
ZS = osp.join(REPO, 'configs', '_base_', 'datasets', 'zero_shot')


def _first_item(name, root):
    from mmengine.config import Config
    from mmseg.registry import DATASETS
    import mmclipdepth  # noqa: F401
    cfg = Config.fromfile(osp.join(ZS, name + '.py'))
    return DATASETS.build(dict(cfg.test_dataloader.dataset.to_dict(), data_root=root))[0]


def test_diode_depth_in_millimetres_is_named(tmp_path):
    import glob
    from helpers.zero_shot_fixtures import make
    root, _ = make('diode_indoor', str(tmp_path))
    path = sorted(glob.glob(osp.join(root, '**', '*_depth.npy'), recursive=True))[0]
    metres = np.load(path)
    np.save(path, metres * 1000.0)  # written in millimetres instead of the release's metres
    keep = (metres > 0) & (np.load(path.replace('_depth.npy', '_depth_mask.npy')).reshape(metres.shape) != 0)
    median_m = float(np.median(metres[keep]))  # the fixture's own metres (0.6-9 m) on the release's valid mask
    with pytest.raises(ValueError) as err:
        _first_item('diode_indoor', root)
    msg = str(err.value)
    assert osp.basename(path) in msg and 'likely in millimetres' in msg and 'diode_indoors' in msg
    assert f'median valid depth {median_m * 1000:.4g} m' in msg and 'look 1000x too large' in msg


def test_diml_png_in_centimetres_is_named(tmp_path):
    import glob
    import cv2
    from helpers.zero_shot_fixtures import make
    root, _ = make('diml_indoor', str(tmp_path))
    path = sorted(glob.glob(osp.join(root, '**', '*_depth_filled.png'), recursive=True))[0]
    mm = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    cv2.imwrite(path, np.round(mm / 10.0).astype(np.uint16))  # centimetres where the release has millimetres
    with pytest.raises(ValueError, match=r'10x too small: the file is likely in centimetres') as err:
        _first_item('diml_indoor', root)
    assert osp.basename(path) in str(err.value) and "documented range [0.5, 10] m" in str(err.value)


def test_zero_shot_eval_refuses_an_unknown_data_root_key(tmp_path):
    out = subprocess.run([sys.executable, osp.join(REPO, 'tools/analysis/zero_shot_eval.py'), 'nowhere.py',
                          '--datasets', 'ibims', '--data-root', f'ibmis={tmp_path}'], capture_output=True, text=True,
                         timeout=300, cwd=REPO, env=ENV)
    assert out.returncode != 0
    assert "--data-root key(s) ['ibmis'] name no zero-shot set" in out.stderr and "'ibims'" in out.stderr


def test_all_nan_table_exits_non_zero(tmp_path):
    """Every ground-truth pixel outside the evaluation range: every metric NaN -> tools/test.py exits non-zero."""
    from helpers.zero_shot_fixtures import make
    from tiny_configs import dump_tiny_config
    root, _ = make('ibims', str(tmp_path / 'i'))
    cfg = dump_tiny_config('clipdepth/nyu_depthclip_zeroshot.py', tmp_path)
    # max_depth 0.01 m: no ground-truth pixel (0.5-7.5 m) is valid, so each of the 4 scalings is all NaN
    out = subprocess.run([sys.executable, osp.join(REPO, 'tools/test.py'), cfg, '--test-set',
                          osp.join(ZS, 'ibims.py'), '--work-dir', str(tmp_path / 'w'), '--cfg-options',
                          f'test_dataloader.dataset.data_root={root}', 'test_dataloader.num_workers=0',
                          *[f'test_evaluator.{i}.max_depth=0.01' for i in range(4)]],
                         capture_output=True, text=True, timeout=600, cwd=REPO, env=ENV)
    assert out.returncode != 0, out.stderr[-2000:]
    assert 'tools/test.py: every metric is NaN' in out.stderr and 'metric/abs_rel' in out.stderr


# ------------------------------------------------------------------------------------------- scene names
def test_cross_scene_exclude_typo_is_refused():
    from mmclipdepth.datasets import CrossSceneDataset
    from mmengine.dataset import BaseDataset

    class Scenes(BaseDataset):
        def load_data_list(self):
            return [dict(scene_type=t, img_path=f'{t}_{i}.jpg') for i, t in enumerate(['bedroom', 'kitchen'])]

    with pytest.raises(ValueError, match=r"exclude_scene_types \['bedrom'\] are not in the dataset; available: "
                                         r"\['bedroom', 'kitchen'\]"):
        CrossSceneDataset(Scenes(), exclude_scene_types=['bedrom'])
    assert len(CrossSceneDataset(Scenes(), exclude_scene_types=['bedroom'])) == 1


# ------------------------------------------------------------------------------------------- metrics on NaN predictions
def _s(pred, gt=None, **meta):
    out = dict(pred_depth_map=dict(data=torch.as_tensor(pred, dtype=torch.float32)[None]), img_path='x.png', **meta)
    if gt is not None:
        out['gt_depth_map'] = dict(data=torch.as_tensor(gt, dtype=torch.float32)[None])
    return out


@pytest.mark.parametrize('min_pred', [None, 1e-3])
def test_depth_eval_metric_reports_the_non_finite_share(min_pred):
    from mmclipdepth.evaluation.metrics import DepthEvalMetric
    gt = np.full((480, 640), 2.0)
    pred = gt.copy()
    pred[100:200, 100:300] = np.nan  # 100 x 200 = 20000 NaN pixels, all inside the eigen crop
    metric = DepthEvalMetric(crop='eigen', min_pred=min_pred)
    metric.process({}, [_s(pred, gt)])
    out = metric.compute_metrics(metric.results)
    # eigen crop: 426 x 560 = 238560 evaluated pixels; a ratio of two exact integers: float rounding only
    assert out['nonfinite_pred'] == pytest.approx(20000 / 238560, rel=1e-12)
    if min_pred is None:  # clamped to min_depth (BTS): those pixels fail delta_1, never a perfect score
        assert out['d1'] == pytest.approx(1 - 20000 / 238560, rel=1e-12)


def test_normalized_delta_metric_reports_the_non_finite_share():
    from mmclipdepth.evaluation.metrics import NormalizedDeltaMetric
    pred = np.linspace(1, 5, 16).reshape(4, 4)
    pred[0, :3] = np.nan
    metric = NormalizedDeltaMetric()
    metric.process({}, [_s(pred, np.linspace(1, 5, 16).reshape(4, 4))])
    out = metric.compute_metrics(metric.results)
    assert out['nonfinite_pred'] == pytest.approx(3 / 16, rel=1e-12) and out['d1'] == 0.0  # not a perfect 1.0


def _pair(metric, p0, p1, g0=None, g1=None, img=None):
    img = torch.zeros(3, *np.shape(p0), dtype=torch.uint8) if img is None else img
    samples = [_s(p, g, pair_id=0, pair_frame=k) for k, (p, g) in enumerate(((p0, g0), (p1, g1)))]
    metric.process(dict(inputs=[img, img]), samples)
    return metric.compute_metrics(metric.results)


def test_flicker_metric_never_scores_nan_as_stable():
    from mmclipdepth.evaluation.metrics import FlickerMetric
    half = np.full((4, 4), 2.0)
    half[:2] = np.nan
    out = _pair(FlickerMetric(), half, half)  # the finite half does not change: formerly flicker 0.0 (perfect)
    assert np.isnan(out['flicker']) and out['flicker_nonfinite_pred'] == pytest.approx(0.5, rel=1e-12)
    nan = np.full((4, 4), np.nan)
    out = _pair(FlickerMetric(), nan, nan)
    assert np.isnan(out['flicker']) and np.isnan(out['static_fraction']) and out['flicker_nonfinite_pred'] == 1.0


def test_temporal_metric_leaves_nan_out_and_says_why_a_constant_gt_is_nan():
    import logging
    from mmengine.logging import MMLogger
    from mmclipdepth.evaluation.metrics import TemporalConsistencyMetric
    nan = np.full((4, 4), np.nan)
    g0, g1 = np.full((4, 4), 2.0), np.full((4, 4), 3.0)
    out = _pair(TemporalConsistencyMetric(), nan, nan, g0, g1)  # formerly clamped to min_depth: change 0.0
    assert np.isnan(out['temporal_change']) and out['temporal_nonfinite_pred'] == 1.0
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        out = _pair(TemporalConsistencyMetric(), g0, g0 + 0.5, g0, g0)  # the ground truth does not change
    finally:
        logger.removeHandler(handler)
    assert np.isnan(out['temporal_err']) and out['temporal_abs_err'] == pytest.approx(0.5, rel=1e-12)
    assert any('the ground truth does not change' in r.getMessage() for r in records)


def test_spatial_metric_is_not_seamless_on_nan():
    from mmclipdepth.evaluation.metrics import SpatialContinuityMetric
    metric = SpatialContinuityMetric(patch_size=2)
    metric.process({}, [_s(np.full((4, 4), np.nan), np.full((4, 4), 2.0))])
    out = metric.compute_metrics(metric.results)
    assert np.isnan(out['spatial_pred']) and np.isnan(out['spatial_pred_on_gt'])  # formerly 1.0, "no seams"
    assert out['spatial_nonfinite_pred'] == 1.0 and out['spatial_gt'] == 1.0  # the constant GT has no seam
