"""One-cycle lr/beta1 schedule against torch's OneCycleLR; CLIP loading paths and their errors."""
import os

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.optim.scheduler import OneCycleLR

from conftest import REPO
from mmclipdepth.engine import OneCycleMomentum
from mmclipdepth.models.utils import load_clip


def test_one_cycle_lr_and_beta1_follow_torch_one_cycle():
    total = 40
    p_ref = torch.nn.Parameter(torch.zeros(1))
    opt_ref = torch.optim.AdamW([p_ref], lr=3.57e-4, weight_decay=0.1)
    ref = torch.optim.lr_scheduler.OneCycleLR(opt_ref, max_lr=3.57e-4, total_steps=total, pct_start=0.3,
                                              anneal_strategy='cos', div_factor=25, final_div_factor=100,
                                              cycle_momentum=True, base_momentum=0.85, max_momentum=0.95)
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([p], lr=3.57e-4, betas=(0.95, 0.999), weight_decay=0.1)
    lr_s = OneCycleLR(opt, eta_max=3.57e-4, total_steps=total, pct_start=0.3, div_factor=25,
                      final_div_factor=100, by_epoch=False)
    mom_s = OneCycleMomentum(opt, base_momentum=0.85, max_momentum=0.95, total_steps=total, pct_start=0.3,
                             by_epoch=False)
    for step in range(total):
        assert opt.param_groups[0]['lr'] == pytest.approx(opt_ref.param_groups[0]['lr'], rel=1e-9), step
        assert opt.param_groups[0]['betas'][0] == pytest.approx(opt_ref.param_groups[0]['betas'][0],
                                                                rel=1e-9), step
        opt_ref.step(), opt.step()
        ref.step(), lr_s.step(), mom_s.step()


def test_schedule_config_builds_with_auty_values():
    cfg = Config.fromfile(os.path.join(REPO, 'configs/_base_/schedules/auty_25ep.py'))
    assert cfg.optim_wrapper.optimizer.lr == 3.57e-4 and cfg.optim_wrapper.clip_grad.max_norm == 0.1
    model = torch.nn.Linear(2, 2)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    assert wrapper.optimizer.defaults['weight_decay'] == 0.1


def test_frozen_model_gets_placeholder_optimiser():
    cfg = Config.fromfile(os.path.join(REPO, 'configs/_base_/schedules/auty_25ep.py'))
    model = torch.nn.Linear(2, 2).requires_grad_(False)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    params = [p for g in wrapper.optimizer.param_groups for p in g['params']]
    assert len(params) == 1 and params[0].numel() == 0


def test_clip_offline_without_cache_says_how_to_supply_weights(tmp_path, monkeypatch):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    monkeypatch.setenv('HF_HOME', str(tmp_path / 'hf'))
    with pytest.raises(FileNotFoundError, match=r"(?s)RN50/openai.*pretrained='/path/to/RN50.pt'"):
        load_clip('RN50', pretrained='openai', cache_dir=str(tmp_path / 'cache'))


@pytest.mark.parametrize('kwargs, exc, match', [
    (dict(model_name='RN50', pretrained='/no/such/RN50.pt'), FileNotFoundError, 'RN50.pt'),
    (dict(model_name='RN5000', pretrained=None), ValueError, 'RN5000'),
    (dict(model_name='RN50', pretrained='laion9b'), ValueError, 'laion9b'),
    (dict(arch_cfg=dict(embed_dim=8, bogus=1), pretrained=None), ValueError, 'arch_cfg'),
])
def test_clip_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        load_clip(**kwargs)
