"""Multi-node launch through tools/dist_train.sh (NNODES, NODE_RANK, MASTER_ADDR, PORT as mmseg's): two "nodes" of
one process each on localhost train exactly as one process on the combined batch; the slurm scripts are mmseg's."""
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
import torch
from mmengine.runner import Runner

from conftest import REPO, tiny_runner_cfg
from mmclipdepth._compat import safe_torch_load
from mmclipdepth.utils import load_runner_config
from test_reliability import ENV, NYU7, _split_of_four
from test_sweep import CLIPDEPTH, _write_sweep


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _rel(a, b):
    return float((a - b).norm() / b.norm())


def _config(tmp_path, config, name, batch):
    cfg = tiny_runner_cfg(config, work_dir=str(tmp_path / name), max_iters=2, batch_size=batch)
    cfg.train_dataloader.dataset.split_file = _split_of_four(tmp_path)
    # NCHW trunk: the native NHWC batch norm's float32 rounding alone moves the tokens by ~2e-5 (test_reliability)
    cfg.model.backbone.channels_last = False
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.train_cfg.val_interval = 1000
    path = str(tmp_path / f'{name}.py')
    cfg.dump(path)
    return path, cfg.work_dir


@pytest.mark.parametrize('kind', ['single', 'sweep'])
def test_two_nodes_through_dist_train_sh_equal_one_process(tmp_path, kind):
    config = NYU7 if kind == 'single' else _write_sweep(tmp_path, CLIPDEPTH, 'nyu_baseline_learned7',
                                                         'nyu_404d_depth7')
    env = dict(ENV, OMP_NUM_THREADS='1', PATH=osp.dirname(sys.executable) + os.pathsep + os.environ['PATH'])
    one_cfg, one_dir = _config(tmp_path, config, 'one', 2)
    two_cfg, two_dir = _config(tmp_path, config, 'two', 1)  # 2 nodes x 1 process x batch 1 = batch 2
    port = str(_free_port())
    nodes = [subprocess.Popen(['bash', osp.join(REPO, 'tools/dist_train.sh'), two_cfg, '1'], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env=dict(env, NNODES='2', NODE_RANK=str(rank), MASTER_ADDR='127.0.0.1', PORT=port))
             for rank in (0, 1)]
    # the one-process reference (not the path under test) runs here, while the nodes start, through what
    # tools/train.py runs (load_runner_config, Runner.train): this process has the packages imported already;
    # one thread, as each node's worker (OMP_NUM_THREADS=1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        Runner.from_cfg(load_runner_config(one_cfg, None, 'none', None)).train()
    finally:
        torch.set_num_threads(threads)
    logs = [p.communicate(timeout=400)[0] for p in nodes]
    for rank, (p, log) in enumerate(zip(nodes, logs)):
        assert p.returncode == 0, f'node {rank}:\n' + log[-3000:]
    assert 'world_size: 2' in logs[0] or 'Distributed launcher: pytorch' in logs[0]
    a = safe_torch_load(osp.join(one_dir, 'iter_2.pth'))['state_dict']
    b = safe_torch_load(osp.join(two_dir, 'iter_2.pth'))['state_dict']
    keys = [k for k in a if k.endswith(('text_encoder.depth_vecs', 'text_encoder.ctx'))]
    assert len(keys) == (1 if kind == 'single' else 2), keys  # sweep: learned7's depth tokens, 404d's context
    for k in keys:
        # float32 sums over the batch in another order (per-node partial sums, then all-reduce): rounding only
        assert _rel(b[k], a[k]) <= 1e-6, (k, _rel(b[k], a[k]))
    for k in (k for k in a if k.endswith('running_mean')):  # BN statistics pooled over the nodes
        assert torch.allclose(a[k], b[k], rtol=1e-5, atol=1e-6), k


@pytest.mark.parametrize('script, args, command', [
    ('slurm_train.sh', ['part', 'job', 'cfg.py', '--amp'], 'train.py cfg.py --launcher=slurm --amp'),
    ('slurm_test.sh', ['part', 'job', 'cfg.py', 'ck.pth', '--out', 'o'], 'test.py cfg.py ck.pth --launcher=slurm --out o'),
])
def test_slurm_scripts_call_srun_as_mmseg(tmp_path, script, args, command):
    """A stand-in ``srun`` records its arguments: one task per GPU, GPUS_PER_NODE per node, the tool with
    ``--launcher=slurm`` and the extra arguments passed through."""
    fake = tmp_path / 'srun'
    fake.write_text('#!/usr/bin/env bash\necho "$@" > "$SRUN_LOG"\n')
    fake.chmod(0o755)
    log = tmp_path / 'srun.log'
    run = subprocess.run(['bash', osp.join(REPO, 'tools', script), *args], capture_output=True, text=True, cwd=REPO,
                         env=dict(os.environ, PATH=f'{tmp_path}:{os.environ["PATH"]}', SRUN_LOG=str(log),
                                  GPUS='16', GPUS_PER_NODE='8'), timeout=30)
    assert run.returncode == 0, run.stderr
    words = log.read_text().split()
    assert words[:2] == ['-p', 'part'] and '--job-name=job' in words and '--gres=gpu:8' in words
    assert '--ntasks=16' in words and '--ntasks-per-node=8' in words and '--kill-on-bad-exit=1' in words
    assert ' '.join(words).endswith(command.replace('train.py', 'tools/train.py').replace('test.py', 'tools/test.py'))
