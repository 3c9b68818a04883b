"""``clip.model_name='local-dir:DIR'``: an open_clip model folder (open_clip_config.json + weights) is the offline
way to give any CLIP; the folder's weights are loaded as saved, its activation is read from its config, and every
broken folder is refused with the path named."""
import json
import os
import os.path as osp

import pytest
import torch

from conftest import TINY_CLIP_ARCH
from helpers.local_clip import make_local_clip_dir
from mmclipdepth.models.utils.clip_loader import load_clip, resolve_quick_gelu, text_activation


@pytest.fixture(scope='module')
def folder(tmp_path_factory):
    return make_local_clip_dir(str(tmp_path_factory.mktemp('clip_folder')), TINY_CLIP_ARCH, quick_gelu=True, seed=3)


def test_weights_loaded_equal_the_saved_tensors(folder):
    path, saved = folder
    model = load_clip('local-dir:' + path, None)
    state = model.state_dict()
    assert set(state) == set(saved)
    for k, v in saved.items():
        assert torch.equal(state[k], v), k
    assert text_activation(model) == 'quick_gelu'  # read from the folder's model_cfg.quick_gelu
    assert not any(p.requires_grad for p in model.parameters())


def test_a_different_folder_gives_different_weights(folder, tmp_path):
    other, saved = make_local_clip_dir(str(tmp_path / 'other'), TINY_CLIP_ARCH, quick_gelu=True, seed=4)
    a = load_clip('local-dir:' + folder[0], None).state_dict()
    b = load_clip('local-dir:' + other, None).state_dict()
    assert not torch.equal(a['visual.conv1.weight'], b['visual.conv1.weight'])


def test_missing_folder_is_named(tmp_path):
    where = str(tmp_path / 'nowhere')
    with pytest.raises(FileNotFoundError, match=f"CLIP model folder '{where}'.*does not exist"):
        load_clip('local-dir:' + where, None)


def test_missing_config_is_named(folder, tmp_path):
    d = tmp_path / 'no_config'
    d.mkdir()
    os.symlink(osp.join(folder[0], 'open_clip_model.safetensors'), d / 'open_clip_model.safetensors')
    with pytest.raises(FileNotFoundError, match=f"CLIP model folder '{d}' has no open_clip_config.json"):
        load_clip(f'local-dir:{d}', None)


def test_missing_weights_are_named(folder, tmp_path):
    d = tmp_path / 'no_weights'
    d.mkdir()
    os.symlink(osp.join(folder[0], 'open_clip_config.json'), d / 'open_clip_config.json')
    with pytest.raises(FileNotFoundError, match=f"CLIP model folder '{d}' holds no weights"):
        load_clip(f'local-dir:{d}', None)


def test_quick_gelu_mismatch_is_refused_with_the_config_named(folder):
    path = folder[0]
    cfg_path = osp.join(path, 'open_clip_config.json')
    with pytest.raises(ValueError, match=rf"need QuickGELU \({cfg_path}\).*quick_gelu=False"):
        load_clip('local-dir:' + path, None, quick_gelu=False)
    assert resolve_quick_gelu('local-dir:' + path, None, None, True) is True


def test_gelu_folder_builds_gelu(tmp_path):
    path, _ = make_local_clip_dir(str(tmp_path / 'gelu'), TINY_CLIP_ARCH, quick_gelu=False)
    assert text_activation(load_clip('local-dir:' + path, None)) == 'gelu'
    with pytest.raises(ValueError, match='need GELU'):
        load_clip('local-dir:' + path, None, quick_gelu=True)


def test_folder_without_activation_needs_it_stated(folder, tmp_path):
    d = tmp_path / 'unstated'
    d.mkdir()
    cfg = json.load(open(osp.join(folder[0], 'open_clip_config.json')))
    del cfg['model_cfg']['quick_gelu']
    (d / 'open_clip_config.json').write_text(json.dumps(cfg))
    os.symlink(osp.join(folder[0], 'open_clip_model.safetensors'), d / 'open_clip_model.safetensors')
    with pytest.raises(ValueError, match=r'Cannot tell which text activation.*no model_cfg.quick_gelu'):
        load_clip(f'local-dir:{d}', None)
    assert text_activation(load_clip(f'local-dir:{d}', None, quick_gelu=True)) == 'quick_gelu'


def test_arch_cfg_beside_a_folder_is_refused(folder):
    with pytest.raises(ValueError, match='names a model folder.*arch_cfg=None'):
        load_clip('local-dir:' + folder[0], None, arch_cfg=TINY_CLIP_ARCH)


def test_depth_model_built_on_a_folder_shares_one_clip(folder):
    from mmseg.registry import MODELS
    from conftest import tiny_model_cfg
    cfg = tiny_model_cfg()
    clip = dict(model_name='local-dir:' + folder[0], pretrained=None, arch_cfg=None, quick_gelu=True)
    cfg['clip'] = clip
    model = MODELS.build(cfg)
    visual = dict(model.backbone.named_parameters())
    saved = folder[1]
    conv = next(k for k in visual if k.endswith('conv1.weight') and 'layer' not in k)
    assert torch.equal(visual[conv], saved['visual.conv1.weight'])
