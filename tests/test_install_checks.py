"""What a user meets before anything runs: an unsupported mmcv, a shadowed package, weights that are not there
offline (one policy and one message for CLIP, timm and transformers, ending in the exact --cfg-options)."""
import os
import os.path as osp
import subprocess
import sys

import pytest

from conftest import REPO

# an endpoint that refuses at once (the discard port on loopback): "the hub cannot be reached" on any machine,
# with or without network, and nothing is downloaded
OFFLINE_ENV = dict(HF_ENDPOINT='http://127.0.0.1:9')


def _run(args, tmp_path, cwd=None, **env):
    full = {k: v for k, v in os.environ.items() if k != 'HF_HUB_OFFLINE'}
    full.update(HF_HOME=str(tmp_path / 'hf_home'), **env)
    return subprocess.run([sys.executable] + args, capture_output=True, text=True, timeout=600,
                          cwd=cwd or REPO, env=full)


def test_mmcv_lite_2_2_is_refused_at_import_saying_what_to_install(tmp_path):
    """A distribution ``mmcv-lite 2.2.0`` first on the path (as `pip install mmcv-lite` brings today)."""
    dist = tmp_path / 'site' / 'mmcv_lite-2.2.0.dist-info'
    dist.mkdir(parents=True)
    (dist / 'METADATA').write_text('Metadata-Version: 2.1\nName: mmcv-lite\nVersion: 2.2.0\n')
    r = _run(['-c', 'import mmclipdepth'], tmp_path, PYTHONPATH=str(tmp_path / 'site'))
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith('ImportError: mmclipdepth: mmcv-lite==2.2.0 is installed')
    assert 'pip install "mmcv-lite==2.1.0"' in last and 'docs/install.md' in last


def test_package_shadowed_by_the_clone_folder_is_refused_by_name(tmp_path):
    """Python started in the folder holding a clone called ``mmclipdepth``: the empty namespace package is named
    instead of a torch UnpicklingError later."""
    (tmp_path / 'mmclipdepth').mkdir()
    r = _run(['-c', 'from mmclipdepth.apis import init_depth_model'], tmp_path, cwd=str(tmp_path))
    assert r.returncode == 1
    assert 'imported as an empty namespace package from' in r.stderr
    assert str(tmp_path / 'mmclipdepth') in r.stderr


def test_offline_clip_ends_with_the_exact_cfg_options_line(tmp_path):
    """tools/test.py on a zero-shot config (CLIP RN50 'openai', named once at model.clip), HF_HUB_OFFLINE not
    set: the hub client's own download fails (after its retries), then exit 1, no traceback, the last line is the
    --cfg-options that sets the weights."""
    r = _run(['tools/test.py', 'configs/clipdepth/nyu_depthclip_zeroshot.py', '--work-dir', str(tmp_path / 'w')],
             tmp_path, **OFFLINE_ENV)
    assert r.returncode == 1, r.stderr[-2000:]
    assert 'Traceback' not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines[-1].strip() == '--cfg-options model.clip.pretrained=/path/to/RN50.pt'
    assert ('tools/test.py: error: CLIP RN50/openai: the model hub could not be reached for '
            'timm/resnet50_clip.openai/open_clip_model.safetensors') in r.stderr
    assert 'HF_HUB_OFFLINE=1 makes this fail at once' in r.stderr


def test_offline_llm_mde_uses_the_same_policy_and_message(tmp_path):
    """The LLM-MDE config's timm ViT with HF_HUB_OFFLINE=1: the hub is never asked (the endpoint would refuse);
    the same wording as CLIP (random weights: ``None``) and its key in the --cfg-options line."""
    r = _run(['tools/train.py', 'configs/llm_mde/nyu_bert.py', '--work-dir', str(tmp_path / 'w')],
             tmp_path, HF_HUB_OFFLINE='1', **OFFLINE_ENV)
    assert r.returncode == 1, r.stderr[-2000:]
    assert 'Traceback' not in r.stderr and 'Retrying' not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines[-1].strip() == '--cfg-options model.backbone.pretrained=/path/to/vit_base_patch16_224.safetensors'
    assert ('tools/train.py: error: LoRAViT vit_base_patch16_224: not in the hub cache (HF_HOME / '
            '~/.cache/huggingface) and HF_HUB_OFFLINE is set') in r.stderr
    assert 'No network is needed if the weights are supplied one of these ways' in r.stderr
    assert '`pretrained=None` for random weights' in r.stderr


def test_offline_language_model_names_its_key(tmp_path):
    """LLM-MDE with the ViT random: the language model is next; HF_HUB_OFFLINE=1 ends on its key."""
    r = _run(['tools/train.py', 'configs/llm_mde/nyu_bert.py', '--work-dir', str(tmp_path / 'w'),
              '--cfg-options', 'model.backbone.pretrained=None'], tmp_path, HF_HUB_OFFLINE='1', **OFFLINE_ENV)
    assert r.returncode == 1, r.stderr[-2000:]
    assert 'Traceback' not in r.stderr and 'Retrying' not in r.stderr
    last = r.stderr.strip().splitlines()[-1].strip()
    assert last == '--cfg-options model.language_model.embed_model=/path/to/folder', last
    assert "`embed_model=dict(model_type='bert', ...) with `tokenizer` given` for random weights" in r.stderr


def test_cfg_options_hint_finds_every_place_of_a_sweep():
    """A 14-variant sweep names CLIP once (model.clip, handed to the trunk and every head): the hint sets that
    one key, which exists in the config, and no head names CLIP weights of its own."""
    from mmengine.config import Config
    from mmclipdepth.utils.weights import WeightsUnavailableError, cfg_options_hint
    path = osp.join(REPO, 'configs/clipdepth/sweeps/nyu_auty_tables3to7.py')
    cfg = Config.fromfile(path)
    err = WeightsUnavailableError('CLIP RN50/openai', dict(model_name='RN50', pretrained='openai'), 'pretrained',
                                  '/x/RN50.pt', 'test')
    hint = cfg_options_hint(cfg, err)
    assert hint == '--cfg-options model.clip.pretrained=/x/RN50.pt'
    assert cfg.model.clip.pretrained == 'openai' and len(cfg.model.decode_heads) > 1
    # applying the hint leaves no place naming the tag
    cfg.merge_from_dict({'model.clip.pretrained': '/x/RN50.pt'})
    assert cfg_options_hint(cfg, err) is None


def test_random_weights_wording_is_one_for_the_three_loaders(tmp_path):
    from mmclipdepth.models.utils import clip_loader, pretrained
    head = 'No network is needed if the weights are supplied one of these ways'
    assert clip_loader._HOW_TO_SUPPLY.startswith(head)
    assert pretrained.timm_how_to_supply('vit_x').startswith(head)
    with pytest.raises(FileNotFoundError, match=head):
        pretrained.transformers_model(str(tmp_path / 'no_such_folder'), what='embed_model')
    with pytest.raises(TypeError, match='None \\(random\\)'):
        pretrained.timm_model('vit_tiny_patch16_224', pretrained=3)
