"""The one weights loader (mmclipdepth/models/utils/pretrained.py), per library: a local file / folder loads those
exact tensors; a hub tag is taken from the hub cache without asking the hub; HF_HUB_OFFLINE never asks the hub and
the message names the config key (and the tools' --cfg-options line sets it); a failed download says so."""
import os
import os.path as osp
import shutil
import socket

import pytest
import torch

from conftest import TINY_CLIP_ARCH
from mmclipdepth.models.utils import pretrained as loader
from mmclipdepth.utils.weights import WeightsUnavailableError, cfg_options_hint

HEAD = 'No network is needed if the weights are supplied one of these ways'
TINY_VIT_KW = dict(img_size=32, patch_size=8, embed_dim=24, depth=2, num_heads=2)


def put_in_hub_cache(cache_dir, repo_id, files):
    """huggingface_hub's cache layout: models--ORG--NAME/refs/main -> commit, snapshots/COMMIT/FILE."""
    commit = 'a' * 40
    root = osp.join(cache_dir, 'models--' + repo_id.replace('/', '--'))
    os.makedirs(osp.join(root, 'snapshots', commit), exist_ok=True)
    os.makedirs(osp.join(root, 'refs'), exist_ok=True)
    with open(osp.join(root, 'refs', 'main'), 'w') as f:
        f.write(commit)
    for name, src in files.items():
        shutil.copy(src, osp.join(root, 'snapshots', commit, name))


@pytest.fixture
def no_hub(monkeypatch):
    """Online as far as the hub client knows (conftest sets HF_HUB_OFFLINE=1, read by huggingface_hub at import);
    a download through huggingface_hub or any name lookup (any library's connection) fails the test."""
    import huggingface_hub
    from huggingface_hub import constants

    def refuse(*a, **k):
        raise AssertionError(f'the hub was asked: {a} {k}')

    lookups = []

    def no_dns(host, *a, **k):  # any connection, whichever library makes it, starts with a name lookup
        lookups.append(host)
        raise OSError(f'no network in this test ({host})')
    monkeypatch.setattr(huggingface_hub, 'hf_hub_download', refuse)
    monkeypatch.setattr(socket, 'getaddrinfo', no_dns)
    monkeypatch.delenv('HF_HUB_OFFLINE', raising=False)
    monkeypatch.delenv('TRANSFORMERS_OFFLINE', raising=False)
    monkeypatch.setattr(constants, 'HF_HUB_OFFLINE', False)
    # huggingface_hub's user-agent header fetches a registry once per process (3 s, no retry) unless telemetry
    # is off: not a weights request, switched off by its documented setting
    monkeypatch.setattr(constants, 'HF_HUB_DISABLE_TELEMETRY', True)
    yield
    assert lookups == [], f'a network connection was attempted: {lookups}'


@pytest.fixture
def offline(monkeypatch, no_hub):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')


def _expected_tail(field, example, random_value='None'):
    # written out here, not taken from mmclipdepth.utils.weights.how_to_supply
    return (f"(2) download them elsewhere and set `{field}='{example}'`; (3) `{field}={random_value}` for random "
            'weights (tests and timing only).')


# ------------------------------------------------------------------------------------------------------ CLIP
def test_clip_state_dict_file_loads_those_tensors(tmp_path):
    import open_clip
    from mmclipdepth.models.utils import load_clip
    torch.manual_seed(3)
    ref = open_clip.model.CLIP(**dict(TINY_CLIP_ARCH, quick_gelu=True))
    path = str(tmp_path / 'tiny_clip.pt')
    torch.save(ref.state_dict(), path)
    model = load_clip(arch_cfg=TINY_CLIP_ARCH, pretrained=path, quick_gelu=True)
    for name, t in ref.state_dict().items():
        assert torch.equal(model.state_dict()[name], t), name


def test_clip_tag_comes_from_the_hub_cache_without_asking_the_hub(tmp_path, no_hub):
    weights = tmp_path / 'w.safetensors'
    weights.write_bytes(b'x')
    cache = str(tmp_path / 'cache')
    # open_clip 3.x: RN50/openai lives at hf_hub 'timm/resnet50_clip.openai/' (safetensors preferred)
    put_in_hub_cache(cache, 'timm/resnet50_clip.openai', {'open_clip_model.safetensors': weights})
    path = loader.open_clip_weights('RN50', 'openai', cache_dir=cache)
    assert path.endswith(osp.join('snapshots', 'a' * 40, 'open_clip_model.safetensors'))


def test_clip_offline_message_names_the_key_and_the_cfg_options_line(tmp_path, offline):
    from mmclipdepth.models.utils import load_clip
    with pytest.raises(WeightsUnavailableError) as info:
        load_clip('RN50', pretrained='openai', cache_dir=str(tmp_path))
    msg = str(info.value)
    assert msg.startswith('CLIP RN50/openai: not in the hub cache (') and 'HF_HUB_OFFLINE is set' in msg
    assert HEAD in msg and msg.endswith(_expected_tail('pretrained', '/path/to/RN50.pt'))
    cfg = dict(model=dict(type='CLIPDepthEstimator', clip=dict(model_name='RN50', pretrained='openai')))
    assert cfg_options_hint(cfg, info.value) == '--cfg-options model.clip.pretrained=/path/to/RN50.pt'


def test_clip_failed_download_says_the_hub_was_unreachable(tmp_path, monkeypatch, no_hub):
    import huggingface_hub
    from huggingface_hub.errors import LocalEntryNotFoundError
    calls = []

    def unreachable(repo_id, filename, **k):
        calls.append(filename)
        raise LocalEntryNotFoundError('cannot reach the hub (test)')
    monkeypatch.setattr(huggingface_hub, 'hf_hub_download', unreachable)
    with pytest.raises(WeightsUnavailableError, match=r'model hub could not be reached.*HF_HUB_OFFLINE=1 makes '
                                                      r'this fail at once') as info:
        loader.open_clip_weights('RN50', 'openai', cache_dir=str(tmp_path))
    assert calls == ['open_clip_model.safetensors']  # one unreachable hub ends it: no second file's retries
    assert info.value.field == 'pretrained' and info.value.example == '/path/to/RN50.pt'


# ------------------------------------------------------------------------------------------------------ timm
def _tiny_vit_file(tmp_path, name='vit.safetensors'):
    import timm
    from safetensors.torch import save_file
    torch.manual_seed(5)
    ref = timm.create_model('vit_tiny_patch16_224', pretrained=False, num_classes=0, **TINY_VIT_KW)
    path = str(tmp_path / name)
    save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, path)
    return ref, path


def test_timm_local_file_and_hub_cache_load_those_tensors(tmp_path, no_hub):
    import timm
    ref, path = _tiny_vit_file(tmp_path)
    from_file = loader.timm_model('vit_tiny_patch16_224', path, num_classes=0, **TINY_VIT_KW)
    cache = str(tmp_path / 'cache')
    hub_id = timm.models.get_pretrained_cfg('vit_tiny_patch16_224').hf_hub_id
    put_in_hub_cache(cache, hub_id, {'model.safetensors': path})
    from_cache = loader.timm_model('vit_tiny_patch16_224', True, cache_dir=cache, num_classes=0, **TINY_VIT_KW)
    for name, t in ref.state_dict().items():
        assert torch.equal(from_file.state_dict()[name], t), name
        assert torch.equal(from_cache.state_dict()[name], t), name


def test_timm_offline_message_names_the_key_and_the_cfg_options_line(tmp_path, offline):
    from mmclipdepth.models.backbones.lora_vit import LoRAViT
    with pytest.raises(WeightsUnavailableError) as info:
        LoRAViT(model_name='vit_tiny_patch16_224', pretrained=True, cache_dir=str(tmp_path),
                model_kwargs=TINY_VIT_KW, lora_rank=0, input_size=32)
    msg = str(info.value)
    assert msg.startswith('LoRAViT vit_tiny_patch16_224: not in the hub cache (') and 'HF_HUB_OFFLINE is set' in msg
    assert msg.endswith(_expected_tail('pretrained', '/path/to/vit_tiny_patch16_224.safetensors'))
    cfg = dict(model=dict(backbone=dict(type='LoRAViT', model_name='vit_tiny_patch16_224', pretrained=True)))
    assert cfg_options_hint(cfg, info.value) == \
        '--cfg-options model.backbone.pretrained=/path/to/vit_tiny_patch16_224.safetensors'


def test_timm_local_files_only_never_asks_the_hub(tmp_path, no_hub):
    with pytest.raises(WeightsUnavailableError, match=r'local_files_only=True, so the hub .* is not asked'):
        loader.timm_model('vit_tiny_patch16_224', True, cache_dir=str(tmp_path), local_files_only=True)


# ---------------------------------------------------------------------------------------------- transformers
@pytest.fixture(scope='module')
def tiny_bert_folder(tmp_path_factory):
    from transformers import BertConfig, BertModel
    torch.manual_seed(7)
    model = BertModel(BertConfig(vocab_size=83, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=64)).eval()
    path = str(tmp_path_factory.mktemp('tiny_bert'))
    model.save_pretrained(path)
    return path, model


def test_transformers_folder_and_hub_cache_load_those_tensors(tmp_path, tiny_bert_folder, no_hub):
    folder, ref = tiny_bert_folder
    from_folder = loader.transformers_model(folder, what='embed_model')
    cache = str(tmp_path / 'cache')
    put_in_hub_cache(cache, 'mmclipdepth-test/tiny-bert',
                     {n: osp.join(folder, n) for n in os.listdir(folder)})
    from_cache = loader.transformers_model('mmclipdepth-test/tiny-bert', cache_dir=cache, what='embed_model')
    for name, t in ref.state_dict().items():
        assert torch.equal(from_folder.state_dict()[name], t), name
        assert torch.equal(from_cache.state_dict()[name], t), name


def test_transformers_tokenizer_from_the_hub_cache(tmp_path, tiny_bert_folder, no_hub):
    """A model repository as on the hub (config.json names the model type, vocab.txt the tokens)."""
    from transformers import BertTokenizer
    tok_dir = osp.join(osp.dirname(__file__), 'data', 'llm_mde', 'tiny_bert_tokenizer')
    folder, _ = tiny_bert_folder
    cache = str(tmp_path / 'cache')
    put_in_hub_cache(cache, 'mmclipdepth-test/tiny-bert', {'config.json': osp.join(folder, 'config.json'),
                                                           'vocab.txt': osp.join(tok_dir, 'vocab.txt')})
    tok = loader.transformers_tokenizer(None, 'mmclipdepth-test/tiny-bert', cache_dir=cache)
    ref = BertTokenizer.from_pretrained(tok_dir)
    assert len(tok) == len(ref) == 83
    assert tok('far near')['input_ids'] == ref('far near')['input_ids']


def test_transformers_offline_message_names_the_key_and_the_cfg_options_line(tmp_path, offline):
    with pytest.raises(WeightsUnavailableError) as info:
        loader.transformers_model('mmclipdepth-test/not-cached', cache_dir=str(tmp_path), what='decoder_model')
    msg = str(info.value)
    assert msg.startswith("HFLanguageModel decoder_model 'mmclipdepth-test/not-cached': not in the hub cache and "
                          'HF_HUB_OFFLINE is set')
    assert msg.endswith(_expected_tail('decoder_model', '/path/to/folder',
                                       "dict(model_type='bert', ...) with `tokenizer` given"))
    cfg = dict(model=dict(language_model=dict(type='HFLanguageModel', embed_model='mmclipdepth-test/not-cached',
                                              decoder_model='mmclipdepth-test/not-cached')))
    assert cfg_options_hint(cfg, info.value) == \
        '--cfg-options model.language_model.decoder_model=/path/to/folder'


def test_transformers_failed_download_says_so(tmp_path, no_hub):
    calls = []

    def load(name, **kwargs):  # a from_pretrained that finds nothing, cached or online
        calls.append(kwargs.get('local_files_only', False))
        raise OSError(f'{name} is not a local folder and is not reachable (test)')
    with pytest.raises(WeightsUnavailableError, match=r'could not be downloaded \(OSError: .*HF_HUB_OFFLINE=1'):
        loader._hf_from_pretrained(load, 'org/name', cache_dir=None, local_files_only=False, what='m',
                                   match={'embed_model': 'org/name'}, field='embed_model')
    assert calls == [True, False]  # the cache first, then the library's own download


def test_pretrained_none_is_random_with_the_loud_warning(tmp_path):
    from mmengine.logging import MMLogger
    logger = MMLogger.get_instance('pretrained_none_test', log_file=str(tmp_path / 'log.txt'))
    assert MMLogger.get_current_instance() is logger
    loader.timm_model('vit_tiny_patch16_224', None, num_classes=0, **TINY_VIT_KW)
    for h in logger.handlers:
        h.flush()
    assert 'vit_tiny_patch16_224 is RANDOMLY INITIALISED' in (tmp_path / 'log.txt').read_text()
