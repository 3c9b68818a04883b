"""End to end through mmengine's Runner on the bundled real samples (tiny random CLIP)."""
import glob
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.runner import Runner

from conftest import REPO, tiny_runner_cfg

METRIC_KEYS = {'abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'log10', 'silog', 'd1', 'd2', 'd3'}


def _metric_values(metrics):
    return {k.split('/')[-1]: v for k, v in metrics.items()}


@pytest.mark.parametrize('dataset, config', [
    ('nyu', 'configs/clipdepth/nyu_404d_learned7.py'),
    ('kitti', 'configs/clipdepth/kitti_baseline_learned20_log.py'),
])
def test_train_two_iterations_then_test(tmp_path, dataset, config):
    cfg = tiny_runner_cfg(config, work_dir=str(tmp_path), dataset=dataset)
    runner = Runner.from_cfg(cfg)
    before = runner.model.decode_head.text_encoder.depth_vecs.detach().clone()
    runner.train()
    after = runner.model.decode_head.text_encoder.depth_vecs.detach()
    assert not torch.equal(before, after)  # the optimiser stepped the tokens
    metrics = _metric_values(runner.test())
    assert METRIC_KEYS <= set(metrics)
    assert all(v == v and abs(v) < 1e6 for k, v in metrics.items() if k in METRIC_KEYS)
    assert 0 <= metrics['d1'] <= metrics['d2'] <= metrics['d3'] <= 1


def test_human_word_config_trains_bn_statistics_only(tmp_path):
    cfg = tiny_runner_cfg('configs/clipdepth/nyu_baseline_depth7.py', work_dir=str(tmp_path))
    runner = Runner.from_cfg(cfg)
    bn = runner.model.backbone.visual.bn1
    before = bn.running_mean.clone()
    runner.train()
    assert not torch.equal(before, bn.running_mean)  # faithful bn_mode='train'


def test_save_resume_test_round_trip(tmp_path):
    cfg = tiny_runner_cfg(work_dir=str(tmp_path), max_iters=2)
    runner = Runner.from_cfg(cfg)
    runner.train()
    ckpt = osp.join(str(tmp_path), 'iter_2.pth')
    assert osp.isfile(ckpt)
    trained = runner.model.decode_head.text_encoder.depth_vecs.detach().clone()
    metrics_in_memory = _metric_values(runner.test())

    # resume: continue to iteration 4 from the saved state (optimizer + scheduler + message hub)
    cfg2 = tiny_runner_cfg(work_dir=str(tmp_path), max_iters=4)
    cfg2.resume = True
    cfg2.load_from = ckpt
    runner2 = Runner.from_cfg(cfg2)
    runner2.train()
    assert runner2.iter == 4
    assert osp.isfile(osp.join(str(tmp_path), 'iter_4.pth'))

    # test from the checkpoint (what tools/test.py CKPT does): the same tokens and metrics
    cfg3 = tiny_runner_cfg(work_dir=str(tmp_path / 'test'))
    cfg3.load_from = ckpt
    runner3 = Runner.from_cfg(cfg3)
    metrics_from_ckpt = _metric_values(runner3.test())
    torch.testing.assert_close(runner3.model.decode_head.text_encoder.depth_vecs.detach(), trained)
    for k in METRIC_KEYS:
        assert metrics_from_ckpt[k] == pytest.approx(metrics_in_memory[k], rel=1e-5, abs=1e-6), k


def test_tools_test_without_checkpoint_for_zero_shot(tmp_path):
    cfg = tiny_runner_cfg('configs/clipdepth/nyu_depthclip_zeroshot.py', work_dir=str(tmp_path))
    cfg_path = tmp_path / 'zeroshot.py'
    cfg.dump(str(cfg_path))
    out = subprocess.run([sys.executable, osp.join(REPO, 'tools/test.py'), str(cfg_path), '--work-dir',
                          str(tmp_path / 'w'), '--out', str(tmp_path / 'pred')],
                         capture_output=True, text=True, timeout=300, cwd=REPO)
    assert out.returncode == 0, out.stderr[-3000:]
    assert 'abs_rel' in out.stdout + out.stderr
    preds = glob.glob(str(tmp_path / 'pred' / '*.npy'))
    assert len(preds) == 1


def test_two_process_gloo_training_through_torchrun(tmp_path):
    cfg = tiny_runner_cfg(work_dir=str(tmp_path / 'w'), max_iters=2, batch_size=1)
    cfg_path = tmp_path / 'dist.py'
    cfg.dump(str(cfg_path))
    env = dict(os.environ, OMP_NUM_THREADS='1')
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2', '--master_port=29533',
           osp.join(REPO, 'tools/train.py'), str(cfg_path), '--launcher', 'pytorch']
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=400, cwd=REPO, env=env)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-4000:]
    assert 'world_size: 2' in log or 'Distributed launcher: pytorch' in log
    scalars = glob.glob(str(tmp_path / 'w' / '*' / 'vis_data' / 'scalars.json'))
    assert scalars
    records = [json.loads(line) for line in open(scalars[0])]
    assert any('abs_rel' in ''.join(r) for r in records), records
