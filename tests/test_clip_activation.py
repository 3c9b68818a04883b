"""CLIP is built with the text activation its weights were trained with (QuickGELU for OpenAI's), and a config
that contradicts the weights is refused - never a warning (OpenAI CLIP: QuickGELU, ``x * sigmoid(1.702 x)``)."""
import glob
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from torch import nn

from conftest import REPO, TINY_CLIP_ARCH
from mmclipdepth.models.utils import load_clip, resolve_quick_gelu, text_activation

OPENAI_META = dict(input_resolution=torch.tensor(64), context_length=torch.tensor(77),
                   vocab_size=torch.tensor(49408))


def _assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def test_local_open_clip_file_round_trip(tmp_path):
    a = load_clip(arch_cfg=TINY_CLIP_ARCH, pretrained=None, quick_gelu=True)
    path = tmp_path / 'tiny_clip.pt'
    torch.save(a.state_dict(), path)
    b = load_clip(arch_cfg=TINY_CLIP_ARCH, pretrained=str(path), quick_gelu=True)
    _assert_same_weights(a, b)
    assert text_activation(b) == 'quick_gelu'
    assert not any(p.requires_grad for p in b.parameters())


def test_open_clip_file_without_activation_needs_it_stated(tmp_path):
    path = tmp_path / 'tiny_clip.pt'
    torch.save(load_clip(arch_cfg=TINY_CLIP_ARCH, quick_gelu=True).state_dict(), path)
    with pytest.raises(ValueError, match=r'(?s)tiny_clip\.pt.*clip\.quick_gelu=True'):
        load_clip(arch_cfg=TINY_CLIP_ARCH, pretrained=str(path))


def test_openai_format_state_dict_gets_quick_gelu_and_refuses_gelu(tmp_path):
    a = load_clip(arch_cfg=TINY_CLIP_ARCH, quick_gelu=True)
    path = tmp_path / 'openai_tiny.pt'
    sd = {k: (v.half() if v.is_floating_point() else v) for k, v in a.state_dict().items()}  # as OpenAI's fp16
    torch.save(dict(sd, **OPENAI_META), path)
    b = load_clip(arch_cfg=TINY_CLIP_ARCH, pretrained=str(path))  # nothing said: the file decides
    assert text_activation(b) == 'quick_gelu'
    assert all(v.dtype == torch.float32 for v in b.state_dict().values() if v.is_floating_point())
    for k, v in a.state_dict().items():
        if v.is_floating_point():  # fp16 round trip: equal to half precision
            torch.testing.assert_close(b.state_dict()[k], v.half().float(), rtol=0, atol=0)
    with pytest.raises(ValueError, match=r'(?s)need QuickGELU.*OpenAI-format.*Set clip\.quick_gelu=True'):
        load_clip(arch_cfg=TINY_CLIP_ARCH, pretrained=str(path), quick_gelu=False)


class _Holder(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _torchscript_archive(state_dict, path):
    """A TorchScript archive whose state_dict() has exactly these keys, like OpenAI's released RN50.pt."""
    root = _Holder()
    for key, value in state_dict.items():
        *mods, leaf = key.split('.')
        node = root
        for m in mods:
            if not hasattr(node, m):
                node.add_module(m, _Holder())
            node = getattr(node, m)
        node.register_buffer(leaf, value.clone())
    torch.jit.save(torch.jit.script(root), str(path))


def test_openai_torchscript_archive_loads_with_quick_gelu(tmp_path):
    a = load_clip(arch_cfg=TINY_CLIP_ARCH, quick_gelu=True)
    path = tmp_path / 'RN50.pt'
    _torchscript_archive(dict(a.state_dict(), **OPENAI_META), path)
    b = load_clip(arch_cfg=TINY_CLIP_ARCH, pretrained=str(path))
    assert text_activation(b) == 'quick_gelu'
    _assert_same_weights(a, b)
    with pytest.raises(ValueError, match='TorchScript'):
        load_clip(arch_cfg=TINY_CLIP_ARCH, pretrained=str(path), quick_gelu=False)


def test_openai_tag_with_gelu_is_refused_before_any_download():
    with pytest.raises(ValueError, match=r"(?s)RN50/openai.*quick_gelu=False.*Set clip\.quick_gelu=True"):
        load_clip('RN50', pretrained='openai', quick_gelu=False)
    assert resolve_quick_gelu('RN50', 'openai') is True  # nothing said: the tag decides


def test_quickgelu_model_name_and_arch_cfg_conflicts_are_refused():
    with pytest.raises(ValueError, match='RN50-quickgelu'):
        resolve_quick_gelu('RN50-quickgelu', 'openai', quick_gelu=False)
    with pytest.raises(ValueError, match='arch_cfg.quick_gelu'):
        resolve_quick_gelu(arch_cfg=dict(TINY_CLIP_ARCH, quick_gelu=False), quick_gelu=True)


@pytest.mark.parametrize('quick_gelu, kind', [(True, 'quick_gelu'), (False, 'gelu')])
def test_random_weights_follow_the_config(quick_gelu, kind):
    assert text_activation(load_clip(arch_cfg=TINY_CLIP_ARCH, quick_gelu=quick_gelu)) == kind


def _clip_dicts(node, found):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == 'clip' and isinstance(value, dict):
                found.append(dict(value))
            else:
                _clip_dicts(value, found)
    elif isinstance(node, (list, tuple)):
        for item in node:
            _clip_dicts(item, found)
    return found


PAPER_CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs', 'clipdepth', '*.py')) +
                       glob.glob(osp.join(REPO, 'configs', 'mirror', '*.py')) +
                       glob.glob(osp.join(REPO, 'configs', 'quickstart', '*.py')))


def test_every_clip_config_builds_quick_gelu():
    """Each CLIP of every config: the activation it resolves to (tag 'openai' -> QuickGELU, no download) and the
    activation actually built (random weights of that architecture, one build per distinct CLIP dict)."""
    built = {}
    assert len(PAPER_CONFIGS) > 40
    for path in PAPER_CONFIGS:
        clips = _clip_dicts(Config.fromfile(path).model.to_dict(), [])
        assert clips, path
        for clip in clips:
            assert clip.get('quick_gelu') is True, (path, clip)
            assert resolve_quick_gelu(clip['model_name'], clip.get('pretrained'), clip.get('arch_cfg'),
                                      clip['quick_gelu']) is True, path
            key = json.dumps(dict(clip, pretrained=None), sort_keys=True)
            if key not in built:
                built[key] = text_activation(load_clip(**dict(clip, pretrained=None)))
            assert built[key] == 'quick_gelu', path


def test_offline_tag_load_fails_fast_with_the_clear_message(tmp_path, monkeypatch):
    """HF_HUB_OFFLINE (the hub client's own switch) and nothing cached: the hub is never asked, and the error says
    how to supply the weights."""
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    import huggingface_hub

    def refuse(*a, **k):
        raise AssertionError('the hub was asked')
    monkeypatch.setattr(huggingface_hub, 'hf_hub_download', refuse)
    from mmclipdepth.utils.weights import WeightsUnavailableError
    with pytest.raises(WeightsUnavailableError, match=r"(?s)RN50/openai: not in the hub cache.*HF_HUB_OFFLINE is "
                                                      r"set.*pretrained='/path/to/RN50.pt'"):
        load_clip('RN50', pretrained='openai', cache_dir=str(tmp_path / 'empty_cache'))
