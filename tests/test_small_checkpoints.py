"""Small checkpoints (the paper configs' default): only what training changes is saved; the frozen CLIP is
restored from the configured weights after its SHA-256 digest is checked."""
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from mmseg.registry import MODELS

from conftest import REPO, TINY_CLIP, tiny_runner_cfg
from mmclipdepth.checkpoint import IDENTITY_KEY, safe_torch_load
from mmclipdepth.checkpoint import CheckpointMismatchError

QUICKSTART = osp.join(REPO, 'configs', 'quickstart', 'nyu_samples_learned7.py')


def _metrics(cfg, ckpt, work):
    cfg = Config(cfg.to_dict())
    cfg.load_from = ckpt
    cfg.work_dir = work
    return {k.split('/')[-1]: v for k, v in Runner.from_cfg(cfg).test().items()}


def test_quickstart_checkpoint_is_small_and_equals_the_full_one(tmp_path):
    """The quickstart config (RN50 architecture, random CLIP from the run's seed), one training epoch:
    its checkpoint is under 1 MB; converted to the full form it gives the same metrics, bit for bit."""
    cfg = Config.fromfile(QUICKSTART)
    cfg.work_dir = str(tmp_path / 'qs')
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1, val_interval=10)
    cfg.param_scheduler = [dict(s, total_steps=2) for s in cfg.param_scheduler]
    cfg.default_hooks.checkpoint.interval = 1
    cfg.default_hooks.visualization.draw = False
    Runner.from_cfg(cfg).train()
    small = str(tmp_path / 'qs' / 'epoch_1.pth')
    assert osp.getsize(small) < 2 ** 20, osp.getsize(small)
    state = safe_torch_load(small)['state_dict']
    assert 'decode_head.text_encoder.depth_vecs' in state and 'backbone.clip_digest' in state
    assert not any(k.endswith('conv1.weight') for k in state)  # no frozen trunk weight
    assert any(k.endswith('bn1.running_mean') for k in state)  # train-mode BatchNorm statistics are kept
    full = str(tmp_path / 'full.pth')
    out = subprocess.run([sys.executable, osp.join(REPO, 'tools/model_converters/checkpoint_size.py'), QUICKSTART,
                          small, full, '--to', 'full'], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert out.returncode == 0, out.stderr[-3000:]
    assert osp.getsize(full) > 50 * 2 ** 20 and 'backbone.visual.conv1.weight' in safe_torch_load(full)['state_dict']
    m_small = _metrics(cfg, small, str(tmp_path / 't1'))
    m_full = _metrics(cfg, full, str(tmp_path / 't2'))
    assert m_small and m_small == m_full
    back = str(tmp_path / 'small_again.pth')
    subprocess.run([sys.executable, osp.join(REPO, 'tools/model_converters/checkpoint_size.py'), QUICKSTART, full,
                    back, '--to', 'small'], check=True, capture_output=True, timeout=300, cwd=REPO)
    a, b = safe_torch_load(small)['state_dict'], safe_torch_load(back)['state_dict']
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a if k != IDENTITY_KEY)
    assert a[IDENTITY_KEY]['digests'] == b[IDENTITY_KEY]['digests']  # the identity: plain data, same tensors


def _small(tmp_path, seed=0):
    cfg = tiny_runner_cfg('configs/clipdepth/nyu_baseline_learned7.py')
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    state = {k: v for k, v in model.state_dict().items() if k not in frozen}
    path = str(tmp_path / f'small{seed}.pth')
    torch.save(dict(state_dict=state, meta={}), path)
    return cfg, path, state


def test_small_checkpoint_with_other_clip_weights_is_refused(tmp_path):
    cfg, path, state = _small(tmp_path, seed=0)
    torch.manual_seed(1)  # another random CLIP: another digest
    model = MODELS.build(cfg.model)
    with pytest.raises(CheckpointMismatchError, match=r'(?s)the given state dict.*clip_digest: checkpoint .*other frozen CLIP'):
        model.load_state_dict(torch.load(path)['state_dict'], strict=False)
    torch.manual_seed(0)  # the same CLIP: restored, every frozen weight equal to the configured one
    model = MODELS.build(cfg.model)
    model.load_state_dict(state, strict=True)  # strict: the check completed the frozen weights


def test_small_checkpoint_without_digest_is_refused(tmp_path):
    cfg, path, state = _small(tmp_path)
    del state['backbone.clip_digest']
    torch.manual_seed(0)
    with pytest.raises(CheckpointMismatchError, match='neither the frozen CLIP weights nor the clip_digest'):
        MODELS.build(cfg.model).load_state_dict(state, strict=False)
