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


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_depth_runner_from_a_repo_config_initialises_gloo_without_cuda(tmp_path, monkeypatch):
    """The runner a repo config names (``runner_type='DepthRunner'``, built through ``RUNNERS`` as mmseg's
    tools/train.py does) starts a distributed run without CUDA, where mmengine's own Runner calls
    ``torch.cuda.set_device`` (mmengine 0.10.7 ``_init_dist_pytorch``); its config is formatted once."""
    if torch.cuda.is_available():
        pytest.skip('CUDA present: nothing to skip')
    import torch.distributed as dist
    import yapf.yapflib.yapf_api as yapf_api
    from mmengine.config import Config
    from mmseg.registry import RUNNERS
    from mmclipdepth.engine.runner import DepthRunner, FormatOnceConfig
    cfg = tiny_runner_cfg(work_dir=str(tmp_path), max_iters=1, batch_size=1)
    assert cfg.runner_type == 'DepthRunner'
    cfg.launcher = 'pytorch'
    for key, value in dict(RANK='0', LOCAL_RANK='0', WORLD_SIZE='1', MASTER_ADDR='127.0.0.1',
                           MASTER_PORT=str(_free_port())).items():
        monkeypatch.setenv(key, value)

    def no_cuda(*args, **kwargs):
        raise AssertionError('torch.cuda.set_device called without CUDA')

    monkeypatch.setattr(torch.cuda, 'set_device', no_cuda)
    for key in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS'):  # mmengine sets them for a distributed run: restored after
        if key in os.environ:
            monkeypatch.setenv(key, os.environ[key])
        else:
            monkeypatch.delenv(key, raising=False)
    # mmengine's own Runner: the upstream behaviour DepthRunner works around (when this passes, the fix can go)
    plain = Config(cfg.to_dict())
    plain.env_cfg.dist_cfg.backend = 'gloo'
    plain.pop('runner_type')
    with pytest.raises(AssertionError, match='set_device'):
        Runner.from_cfg(plain)
    assert not dist.is_initialized()
    trees = []
    format_tree = yapf_api.FormatTree
    monkeypatch.setattr(yapf_api, 'FormatTree', lambda *a, **k: trees.append(1) or format_tree(*a, **k))
    try:
        runner = RUNNERS.build(cfg)
        assert type(runner) is DepthRunner
        assert dist.is_initialized() and dist.get_backend() == 'gloo' and runner.distributed
        assert torch.cuda.set_device is no_cuda  # restored after mmengine's init
        assert isinstance(runner.cfg, FormatOnceConfig)
        built = len(trees)  # the Runner read pretty_text while building (config log, visualiser dump)
        assert built == 1
        assert runner.cfg.pretty_text == Config.pretty_text.fget(runner.cfg) and len(trees) == 2
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_mmseg_tools_train_with_a_repo_config_under_torchrun_on_cpu(tmp_path):
    """mmseg's own tools/train.py (``custom_imports=['mmclipdepth']`` and ``runner_type`` from the repo config)
    trains under torchrun without CUDA: the fixes come with the runner, not with our tools."""
    import mmseg
    script = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools', 'train.py')
    if not osp.isfile(script):
        pytest.skip(f'mmseg ships no {script}')
    if torch.cuda.is_available():
        pytest.skip('CUDA present')
    cfg = tiny_runner_cfg(work_dir=str(tmp_path / 'w'), max_iters=1, batch_size=1)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg_path = tmp_path / 'mmseg_tools.py'
    cfg.dump(str(cfg_path))
    env = dict(os.environ, OMP_NUM_THREADS='1')
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=1', f'--master_port={_free_port()}',
           script, str(cfg_path), '--launcher', 'pytorch']
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=400, cwd=str(tmp_path), env=env)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-4000:]
    assert 'Distributed launcher: pytorch' in log and 'Distributed training: True' in log, log[-3000:]
    assert glob.glob(str(tmp_path / 'w' / 'iter_1.pth')), os.listdir(tmp_path / 'w')
