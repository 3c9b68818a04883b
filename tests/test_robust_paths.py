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

from conftest import REPO, tiny_runner_cfg

NYU7 = 'configs/clipdepth/nyu_baseline_learned7.py'
ENV = dict(os.environ, OMP_NUM_THREADS='2', HF_HUB_OFFLINE='1',
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
