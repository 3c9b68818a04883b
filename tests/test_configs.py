"""Every shipped config parses and its model builds (tiny CLIP swapped in for speed)."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmseg.registry import MODELS

from conftest import REPO, TINY_CLIP

CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs', 'clipdepth', '*.py')))


def _swap_clip(cfg):
    def visit(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == 'clip' and isinstance(value, dict):
                    node[key] = dict(TINY_CLIP)
                else:
                    visit(value)
        elif isinstance(node, list):
            for item in node:
                visit(item)
    visit(cfg.model)


def test_there_is_a_config_per_paper_row():
    names = {osp.basename(c) for c in CONFIGS}
    for ds in ('nyu', 'kitti'):
        for row in ('baseline_learned7', 'baseline_depth7', 'baseline_size7', 'baseline_colour7',
                    'baseline_random7', 'baseline_randtxt7', '101d_depth7', '102d_depth7', '404d_depth7',
                    '404d_learned7', 'baseline_learned7_log', 'baseline_learned20',
                    'baseline_learned20_log', 'baseline_learned256_log'):
            assert f'{ds}_{row}.py' in names
    assert 'nyu_depthclip_zeroshot.py' in names


@pytest.mark.parametrize('path', CONFIGS, ids=[osp.basename(c) for c in CONFIGS])
def test_config_builds(path):
    cfg = Config.fromfile(path)
    name = osp.basename(path)
    head = cfg.model.decode_head
    assert cfg.custom_imports.imports == ['mmclipdepth']
    if name.startswith('kitti'):
        assert head.max_depth == 80.0 and cfg.test_evaluator.crop == 'garg'
    elif name.endswith('_protocol.py'):  # DepthCLIP's own evaluation
        assert head.max_depth == 10.0 and cfg.test_evaluator.crop == 'depthclip_nyu'
    else:
        assert head.max_depth == 10.0 and cfg.test_evaluator.crop == 'eigen'
    if '_log' in name:
        assert head.bins == 'log'
    # faithful values in every paper config (docs/fidelity.md)
    if 'corrected' not in name:
        assert cfg.model.backbone.feature_mode == 'raw_layer4' and cfg.model.backbone.bn_mode == 'train'
        assert cfg.model.data_preprocessor.mean == [123.675, 116.28, 103.53]
    assert head.logit_scale == 100.0 and head.temperature == 0.1
    # mmseg's --tta feeds the model what the test pipeline does, before the flips (e.g. DepthCLIP's crop box)
    test_steps = [t.type for t in cfg.test_dataloader.dataset.pipeline][:-1]
    assert [t.type for t in cfg.tta_pipeline][:-1] == test_steps
    assert cfg.model.clip and 'clip' not in cfg.model.backbone  # the model's one CLIP
    _swap_clip(cfg)
    model = MODELS.build(cfg.model)
    tokens = head.text_encoder.depth_tokens
    n = int(tokens.split('-')[-1]) if tokens[-1].isdigit() else 7
    assert model.decode_head.bin_centres.numel() == n
