"""Every checkpoint carries what it is (docs/reliability.md, "Identity and integrity"): one test per case, each
through the public API, the Runner or the command line, asserting the error and the file / key it names."""
import glob
import io
import os
import os.path as osp
import re
import subprocess
import sys
import textwrap
import zipfile

import pytest
import torch
from mmengine.runner import Runner
from mmseg.registry import MODELS

from conftest import CHILD_THREADS, REPO, tiny_runner_cfg
from mmclipdepth.apis import init_depth_model
from mmclipdepth.checkpoint import (IDENTITY_KEY, CheckpointIdentityError, CheckpointMismatchError,
                                    CorruptCheckpointError, OversizeCheckpointError, safe_torch_load, stamp)
from mmclipdepth.checkpoint.identity import compare_fingerprints, model_fingerprint

NYU7 = 'configs/clipdepth/nyu_baseline_learned7.py'
NYU7C = 'configs/clipdepth/nyu_baseline_learned7_corrected.py'
ENV = dict(os.environ, OMP_NUM_THREADS=CHILD_THREADS, HF_HUB_OFFLINE='1', PYTHONPATH=REPO)
TOKEN = 'decode_head.text_encoder.depth_vecs'


def _model(config=NYU7):
    torch.manual_seed(0)
    return MODELS.build(tiny_runner_cfg(config).model)


def _save(path, state):
    torch.save(dict(state_dict=state, meta=dict()), str(path))
    return str(path)


def _stamped(tmp_path, name='ck.pth', config=NYU7, edit=None):
    """A checkpoint of a freshly built tiny ``config`` model with its identity (as SafeCheckpointHook writes)."""
    model = _model(config)
    state = model.state_dict()
    if edit is not None:
        edit(state)
    return _save(tmp_path / name, stamp(state, model, variant='v'))


def _run(*args, timeout=300):
    return subprocess.run([sys.executable, *args], cwd=REPO, env=ENV, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """A 2-iteration tiny run of the learned-7 config: its work dir and checkpoint (SafeCheckpointHook)."""
    work = tmp_path_factory.mktemp('run')
    cfg = tiny_runner_cfg(NYU7, work_dir=str(work))
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    Runner.from_cfg(cfg).train()
    return work, str(work / 'iter_2.pth')


# ------------------------------------------------------------------------------------------- identity
def test_hook_writes_the_identity(trained):
    _, ckpt = trained
    ident = safe_torch_load(ckpt)['state_dict'][IDENTITY_KEY]
    assert ident['fingerprint']['model.backbone.feature_mode'] == 'raw_layer4'
    assert ident['depth_range'] == [0.001, 10.0]  # the NYU evaluator's range
    assert TOKEN in ident['trained'] and 'backbone.visual.conv1.weight' not in ident['trained']
    assert 'model.backbone.channels_last' not in ident['fingerprint']  # speed-only: left out


def test_other_config_same_shapes_is_refused_with_the_differing_keys(trained):
    """Case 1: a learned7 checkpoint evaluated with the corrected config (same tensor shapes)."""
    _, ckpt = trained
    with pytest.raises(CheckpointIdentityError, match=r"(?s)iter_2\.pth.*model\.backbone\.feature_mode: "
                                                      r"raw_layer4 \(checkpoint\) vs dense_attnpool \(config\)"):
        init_depth_model(tiny_runner_cfg(NYU7C), ckpt)


def test_tools_test_refuses_other_config(trained, tmp_path):
    _, ckpt = trained
    cfg = tiny_runner_cfg(NYU7C, work_dir=str(tmp_path / 'w'))
    path = str(tmp_path / 'corrected.py')
    cfg.dump(path)
    r = _run('tools/test.py', path, ckpt)
    assert r.returncode != 0
    assert 'iter_2.pth' in r.stderr and 'model.backbone.bn_mode: train (checkpoint) vs eval (config)' in r.stderr


LOAD_PATHS = {
    'demo/image_demo.py': lambda c, k, t: ['demo/image_demo.py', c, k, SAMPLE, '--out-dir', str(t / 'o')],
    'demo/video_demo.py': lambda c, k, t: ['demo/video_demo.py', c, k, str(t / 'frames'), '--out-dir', str(t / 'o')],
    'export_onnx.py': lambda c, k, t: ['tools/deployment/export_onnx.py', c, k, '--out', str(t / 'm.onnx')],
    'checkpoint_size.py': lambda c, k, t: ['tools/model_converters/checkpoint_size.py', c, k, str(t / 's.pth'),
                                           '--to', 'small'],
    'load_from': lambda c, k, t: ['tools/train.py', c, '--cfg-options', f'load_from={k}'],
    '--resume': lambda c, k, t: ['tools/train.py', c, '--resume', '--cfg-options', f'load_from={k}'],
}


@pytest.mark.parametrize('path', list(LOAD_PATHS))
def test_every_load_path_refuses_other_config(trained, tmp_path, path):
    """Case 1 on the other load paths a user types (the API and tools/test.py above; the web demo below):
    each exits non-zero naming the checkpoint file and a differing key, and writes nothing."""
    _, ckpt = trained
    cfg_path = str(tmp_path / 'corrected.py')
    tiny_runner_cfg(NYU7C, work_dir=str(tmp_path / 'w')).dump(cfg_path)
    (tmp_path / 'frames').mkdir()  # a clip as a folder of frames (video_demo)
    for i in range(2):
        (tmp_path / 'frames' / f'{i:03d}.jpg').write_bytes(open(SAMPLE, 'rb').read())
    r = _run(*LOAD_PATHS[path](cfg_path, ckpt, tmp_path))
    assert r.returncode != 0
    assert 'iter_2.pth' in r.stderr and 'model.backbone.bn_mode: train (checkpoint) vs eval (config)' in r.stderr, \
        r.stderr[-2000:]
    assert not glob.glob(str(tmp_path / '*.onnx')) and not osp.exists(tmp_path / 's.pth')
    assert not glob.glob(str(tmp_path / 'w' / '*.pth'))


def test_web_demo_refuses_other_config(trained, tmp_path, capsys):
    """Case 1 in the web demo: the visitor gets the one server-file message, the operator's log names the file
    and the differing key."""
    import importlib.util
    spec = importlib.util.spec_from_file_location('web_demo_ident', osp.join(REPO, 'demo', 'web_demo.py'))
    web = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(web)
    _, ckpt = trained
    cfg_path = str(tmp_path / 'corrected.py')
    tiny_runner_cfg(NYU7C).dump(cfg_path)
    service = web.DepthService(out_root=str(tmp_path / 'out'), choices={'mine': (cfg_path, ckpt)})
    with pytest.raises(web.DemoError):
        service.model('mine')
    err = capsys.readouterr().err
    assert 'iter_2.pth' in err and 'model.backbone.bn_mode: train (checkpoint) vs eval (config)' in err


def test_checkpoint_without_identity_warns_what_was_not_checked(tmp_path):
    model = _model()
    ckpt = _save(tmp_path / 'old.pth', model.state_dict())
    with pytest.warns(UserWarning, match=r"old\.pth.*carries no identity.*could not be checked"):
        init_depth_model(tiny_runner_cfg(NYU7), ckpt)


# ------------------------------------------------------------------------------------------- integrity
def test_non_finite_tokens_are_refused_by_name(tmp_path):
    """Case 2, with and without an identity."""
    def nan(state):
        state[TOKEN][0, 0] = float('nan')
    with pytest.raises(CheckpointIdentityError, match=rf'nan\.pth.*non-finite.*{TOKEN}'):
        init_depth_model(tiny_runner_cfg(NYU7), _stamped(tmp_path, 'nan.pth', edit=nan))
    model = _model()
    state = model.state_dict()
    state[TOKEN][1, 1] = float('inf')
    with pytest.raises(CheckpointMismatchError, match=rf'inf\.pth.*non-finite.*{TOKEN}'):
        init_depth_model(tiny_runner_cfg(NYU7), _save(tmp_path / 'inf.pth', state))


def test_flipped_bit_is_refused_naming_the_tensor_also_by_the_converter(tmp_path):
    """Case 3: one bit of the token's bytes flipped in the file (torch does not check the zip CRC)."""
    model = _model()
    state = model.state_dict()
    ckpt = _save(tmp_path / 'flip.pth', stamp(state, model))
    raw = open(ckpt, 'rb').read()
    token_bytes = state[TOKEN].numpy().tobytes()
    at = raw.find(token_bytes)
    assert at > 0 and raw.count(token_bytes) == 1
    data = bytearray(raw)
    data[at + 3] ^= 0x40  # the exponent bits of the first float
    open(ckpt, 'wb').write(bytes(data))
    with pytest.raises(CheckpointIdentityError, match=rf'flip\.pth.*{TOKEN}.*digest'):
        init_depth_model(tiny_runner_cfg(NYU7), ckpt)
    cfg_path = str(tmp_path / 'tiny.py')
    tiny_runner_cfg(NYU7).dump(cfg_path)
    r = _run('tools/model_converters/checkpoint_size.py', cfg_path, ckpt, str(tmp_path / 'small.pth'),
             '--to', 'small')
    assert r.returncode != 0 and 'flip.pth' in r.stderr and TOKEN in r.stderr
    assert not osp.exists(tmp_path / 'small.pth')


def test_unexpected_trained_tensor_is_refused_by_name(tmp_path):
    """Case 18: a checkpoint with tensors the model lacks (a mirror checkpoint in a no-mirror config)."""
    model = _model()
    state = model.state_dict()
    state['decode_head.mirror.weight'] = torch.zeros(3)
    with pytest.raises(CheckpointMismatchError, match=r"extra\.pth.*'decode_head\.mirror\.weight'"):
        init_depth_model(tiny_runner_cfg(NYU7), _save(tmp_path / 'extra.pth', state))


# ------------------------------------------------------------------------------------------- the file
def test_random_bytes_and_raw_tensor_data_are_corrupt_not_malicious(tmp_path):
    """Case 10."""
    rnd = tmp_path / 'random.pth'
    rnd.write_bytes(bytes([7]) + os.urandom(4096))
    raw = tmp_path / 'raw.pth'
    torch.randn(1000).numpy().tofile(str(raw))
    for path in (rnd, raw):
        with pytest.raises(CorruptCheckpointError, match=rf'{path.name}.*not a torch checkpoint.*not reported as '
                                                         'malicious'):
            init_depth_model(tiny_runner_cfg(NYU7), str(path))


def test_plain_zip_renamed_pth_names_the_file(tmp_path):
    """Case 11: a stored zip without torch's records, and a compressed one."""
    stored = tmp_path / 'stored.pth'
    with zipfile.ZipFile(stored, 'w', zipfile.ZIP_STORED) as zf:
        zf.writestr('notes.txt', 'hello')
    with pytest.raises(CorruptCheckpointError, match=r"stored\.pth.*not a torch checkpoint.*data\.pkl"):
        safe_torch_load(str(stored))
    deflated = tmp_path / 'deflated.pth'
    with zipfile.ZipFile(deflated, 'w', zipfile.ZIP_DEFLATED) as zf:
        zf.writestr('notes.txt', 'hello')
    with pytest.raises(OversizeCheckpointError, match=r"deflated\.pth.*compressed"):
        safe_torch_load(str(deflated))


def test_zip_bomb_is_refused_before_inflating(tmp_path):
    """A ~1 MB checkpoint zip holding a 1 GiB tensor of zeros, loaded in a process whose address space
    is limited to what it already uses + 512 MiB, so inflating it would fail (and cannot take the machine down)."""
    bomb = tmp_path / 'bomb.pth'
    buf = io.BytesIO()
    torch.save({'state_dict': {'w': torch.zeros(4)}}, buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as src, \
            zipfile.ZipFile(bomb, 'w', zipfile.ZIP_DEFLATED, compresslevel=9) as dst:
        for info in src.infolist():
            if info.filename.endswith('data/0'):
                with dst.open(info.filename, 'w', force_zip64=True) as f:
                    chunk = bytes(64 * 2**20)
                    for _ in range(16):  # 1 GiB
                        f.write(chunk)
            else:
                dst.writestr(info.filename, src.read(info.filename))
    assert osp.getsize(bomb) < 2 * 2**20
    script = textwrap.dedent(f"""
        import resource, sys
        import mmclipdepth
        from mmclipdepth.checkpoint import safe_torch_load, OversizeCheckpointError
        vm = [int(l.split()[1]) * 1024 for l in open('/proc/self/status') if l.startswith('VmSize')][0]
        resource.setrlimit(resource.RLIMIT_AS, (vm + 512 * 2**20, vm + 512 * 2**20))
        try:
            safe_torch_load({str(bomb)!r})
        except OversizeCheckpointError as e:
            print(e); sys.exit(3)
        """)
    r = _run('-c', script)
    assert r.returncode == 3, r.stderr[-2000:]
    assert 'bomb.pth' in r.stdout and 'compressed' in r.stdout


# ------------------------------------------------------------------------------------------- work dirs, resume
def test_a_second_run_never_overwrites_checkpoints(trained):
    """Case 8: a new run (no --resume) into a work dir that holds checkpoints is refused, naming them."""
    work, _ = trained
    before = open(osp.join(work, 'iter_2.pth'), 'rb').read()
    cfg = tiny_runner_cfg(NYU7, work_dir=str(work))
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    with pytest.raises(FileExistsError, match=r'iter_2\.pth.*--resume.*--overwrite-checkpoints'):
        Runner.from_cfg(cfg).train()
    assert open(osp.join(work, 'iter_2.pth'), 'rb').read() == before


def test_empty_last_checkpoint_is_named(tmp_path):
    """Case 13, through tools/train.py --resume."""
    work = tmp_path / 'w'
    work.mkdir()
    (work / 'last_checkpoint').write_text('')
    cfg_path = str(tmp_path / 'tiny.py')
    tiny_runner_cfg(NYU7, work_dir=str(work)).dump(cfg_path)
    r = _run('tools/train.py', cfg_path, '--resume')
    assert r.returncode != 0
    assert 'last_checkpoint' in r.stderr and 'is empty' in r.stderr


def test_resume_from_weights_only_says_use_load_from(tmp_path):
    """Case 14."""
    ckpt = _stamped(tmp_path, 'weights.pth')
    cfg = tiny_runner_cfg(NYU7, work_dir=str(tmp_path / 'w'))
    cfg.load_from, cfg.resume = ckpt, True
    with pytest.raises(ValueError, match=r'no training state.*load_from'):
        Runner.from_cfg(cfg).train()


# ------------------------------------------------------------------------------------------- configs
def test_config_key_typo_names_the_nearest_key(tmp_path):
    """Case 7: ``trian_cfg`` in a config given to tools/train.py."""
    cfg_path = tmp_path / 'typo.py'
    cfg_path.write_text(f"_base_ = [{osp.join(REPO, NYU7)!r}]\ntrian_cfg = dict(max_iters=5)\n")
    r = _run('tools/train.py', str(cfg_path), '--work-dir', str(tmp_path / 'w'))
    assert r.returncode != 0
    assert "'trian_cfg'" in r.stderr and "did you mean 'train_cfg'" in r.stderr and 'typo.py' in r.stderr


@pytest.mark.parametrize('bins', [0, -3])
def test_integer_bins_name_the_key(bins):
    """Case 12."""
    cfg = tiny_runner_cfg(NYU7)
    cfg.model.decode_head.bins = bins
    with pytest.raises(ValueError, match=rf'decode_head\.bins .* got {bins}'):
        MODELS.build(cfg.model)


# ------------------------------------------------------------------------------------------- the split chain
SWEEP = 'configs/clipdepth/sweeps/nyu_auty_table5.py'
SAMPLE = osp.join(REPO, 'tests', 'data', 'nyu', 'official_splits', 'test', 'basement', 'rgb_00100.jpg')


def _as_user_writes_it(config, work_dir, clip_file):
    """A repo config with the tiny CLIP read from a weights file (as ``pretrained='/path/RN50.pt'`` is) and the
    repo's own checkpoint hook (``save_frozen=False``: small checkpoints, completed from that CLIP at load)."""
    cfg = tiny_runner_cfg(config, work_dir=work_dir)
    cfg.model.clip = dict(cfg.model.clip, pretrained=clip_file)  # one key, sweeps included
    cfg.default_hooks.checkpoint.save_frozen = False  # configs/_base_/default_runtime.py
    return cfg


def test_split_chain_through_the_tools(tmp_path):
    """Case 9: ``tools/train.py`` on a repo sweep config -> ``split_variants.py`` -> ``tools/test.py``,
    ``demo/image_demo.py``, the API and ``export_onnx.py`` on the split parts, as a user types them.

    Each part's metrics from ``tools/test.py`` equal the sweep's own validation of that variant (its
    ``scalars.json``) to rel 1e-6: both runs do the same float32 operations on the same frame (the trunk once,
    then that head; the split part carries the trunk's BatchNorm statistics and the head's tokens bit for bit),
    so they agree exactly on one machine; 1e-6 leaves room for a BLAS that picks other kernels for the sweep's
    batched head shapes. The image demo's depth equals the API's on the same part the same way."""
    from mmclipdepth.models.utils.clip_loader import load_clip
    from conftest import TINY_CLIP_ARCH
    from mmclipdepth.apis import inference_depth
    from mmclipdepth.checkpoint import model_fingerprint
    import json
    import numpy as np
    torch.manual_seed(1)
    clip_file = str(tmp_path / 'tiny_clip.pt')
    torch.save(load_clip(arch_cfg=TINY_CLIP_ARCH, pretrained=None, quick_gelu=True).state_dict(), clip_file)
    sweep_cfg = _as_user_writes_it(SWEEP, str(tmp_path / 'sweep'), clip_file)
    sweep_path = str(tmp_path / 'nyu_auty_table5.py')
    sweep_cfg.dump(sweep_path)
    names = list(sweep_cfg.model.decode_heads)
    paths = {}
    for name in names:
        paths[name] = str(tmp_path / f'{name}.py')
        _as_user_writes_it(f'configs/clipdepth/{name}.py', str(tmp_path / f'test_{name}'), clip_file).dump(
            paths[name])

    r = _run('tools/train.py', sweep_path, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    scalars = glob.glob(str(tmp_path / 'sweep' / '*' / 'vis_data' / 'scalars.json'))
    own = [json.loads(line) for line in open(scalars[0]) if f'{names[0]}/abs_rel' in line][-1]

    split = str(tmp_path / 'split')
    r = _run('tools/model_converters/split_variants.py', sweep_path, str(tmp_path / 'sweep' / 'iter_2.pth'),
             '--out-dir', split)
    assert r.returncode == 0, r.stderr[-3000:]
    for name in names:
        part = osp.join(split, name + '.pth')
        state = safe_torch_load(part)['state_dict']
        ident = state[IDENTITY_KEY]
        # the variant's own fingerprint and name; small (what training changed and the trunk's statistics)
        assert ident['variant'] == name and ident['depth_range'] == [0.001, 10.0]
        from mmengine.config import Config
        assert ident['fingerprint'] == model_fingerprint(Config.fromfile(paths[name]).model)
        assert not any('.core.' in k or k.endswith('conv1.weight') for k in state), name
        if name == names[-1]:  # learned context and learned depth tokens: as a user types it
            r = _run('tools/test.py', paths[name], part)
            assert r.returncode == 0, r.stderr[-3000:]
            metrics = json.load(open(tmp_path / f'test_{name}' / 'metrics.json'))
        else:  # the others through the Runner API (what tools/test.py runs), to keep the test short
            cfg = Config.fromfile(paths[name])
            cfg.load_from = part
            metrics = Runner.from_cfg(cfg).test()
        for key in ('abs_rel', 'rmse', 'd1', 'silog'):
            assert metrics[key] == pytest.approx(own[f'{name}/{key}'], rel=1e-6, abs=1e-12), (name, key)

    name = names[-1]  # learned context and learned depth tokens
    part = osp.join(split, name + '.pth')
    r = _run('demo/image_demo.py', paths[name], part, SAMPLE, '--out-dir', str(tmp_path / 'demo'))
    assert r.returncode == 0, r.stderr[-3000:]
    demo = np.load(str(tmp_path / 'demo' / 'rgb_00100_depth.npy'))
    api = inference_depth(init_depth_model(paths[name], part), SAMPLE)
    assert demo.shape == api.shape and np.allclose(demo, api, rtol=1e-6, atol=0)
    out = str(tmp_path / 'onnx' / f'{name}.onnx')
    r = _run('tools/deployment/export_onnx.py', paths[name], part, '--out', out, '--images', SAMPLE)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'max relative depth difference' in r.stdout and osp.isfile(out)
    # and a part keeps the identity check: another variant's config is refused, naming the file and the key
    with pytest.raises(CheckpointMismatchError, match=rf'{name}\.pth.*model\.decode_head\.text_encoder'):
        init_depth_model(paths[names[0]], part)


def test_checkpoint_of_the_per_tower_clip_layout_still_loads(tmp_path):
    """A checkpoint stamped when CLIP was configured per tower (``model.backbone.clip.*`` and
    ``model.decode_head.text_encoder.clip.*``) loads into today's model (``model.clip.*``); a CLIP that differs
    is still refused, named by today's key."""
    model = _model()
    current = model_fingerprint(model.build_cfg)
    clip_keys = [k for k in current if k.startswith('model.clip.')]
    assert 'model.clip.quick_gelu' in clip_keys

    def old_layout(fingerprint):
        out = {k: v for k, v in fingerprint.items() if not k.startswith('model.clip.')}
        for key in clip_keys:
            rest = key[len('model.clip.'):]
            out[f'model.backbone.clip.{rest}'] = out[f'model.decode_head.text_encoder.clip.{rest}'] = fingerprint[key]
        return out

    old = old_layout(current)
    assert not any(k.startswith('model.clip.') for k in old)
    assert compare_fingerprints(old, current) == []
    ckpt = _save(tmp_path / 'old.pth', stamp(model.state_dict(), fingerprint=old, variant='v'))
    loaded = init_depth_model(tiny_runner_cfg(NYU7), ckpt)
    torch.testing.assert_close(loaded.decode_head.text_encoder.depth_vecs, model.decode_head.text_encoder.depth_vecs,
                               rtol=0, atol=0)  # a copy of the same tensor: bit-equal
    gelu = old_layout(dict(current, **{'model.clip.quick_gelu': False}))
    ckpt = _save(tmp_path / 'gelu.pth', stamp(model.state_dict(), fingerprint=gelu, variant='v'))
    with pytest.raises(CheckpointIdentityError, match=r'model\.clip\.quick_gelu: False \(checkpoint\) vs True'):
        init_depth_model(tiny_runner_cfg(NYU7), ckpt)


def test_the_file_name_travels_with_the_state_dict(tmp_path):
    """The reader records the file in the state dict's own ``_metadata`` (no global map): torch's and
    mmengine's loaders hand it to the model's check, which names it; a state dict built by hand is 'the given
    state dict', even when it holds tensors that were read from a file."""
    from collections import OrderedDict
    from mmengine.runner.checkpoint import _load_checkpoint, _load_checkpoint_to_model
    from mmclipdepth.checkpoint import checkpoint_source_of
    model = _model()
    bad = model.state_dict()
    bad[TOKEN] = torch.zeros(3, 3)  # the wrong shape
    plain = _save(tmp_path / 'plain.pth', dict(bad))  # a plain dict state: becomes an OrderedDict on read
    wrapped = _save(tmp_path / 'wrapped.pth', bad)
    torch.save(bad, str(tmp_path / 'bare.pth'))  # no mmengine wrapper
    for path in (plain, wrapped, str(tmp_path / 'bare.pth')):
        raw = safe_torch_load(path)
        state = raw.get('state_dict', raw)
        assert checkpoint_source_of(state) == path
        with pytest.raises(CheckpointMismatchError, match=rf"'{re.escape(path)}'.*{TOKEN}"):
            _model().load_state_dict(state, strict=False)  # torch's loader
        with pytest.raises(CheckpointMismatchError, match=rf"'{re.escape(path)}'.*{TOKEN}"):
            _load_checkpoint_to_model(_model(), _load_checkpoint(path))  # mmengine's (load_from, --resume)
    by_hand = OrderedDict((k, v) for k, v in safe_torch_load(wrapped)['state_dict'].items())
    assert checkpoint_source_of(by_hand) is None
    with pytest.raises(CheckpointMismatchError, match=rf'the given state dict.*{TOKEN}') as err:
        _model().load_state_dict(by_hand, strict=False)
    assert 'wrapped.pth' not in str(err.value)
    # the version entries torch keeps in _metadata survive the reader
    assert safe_torch_load(wrapped)['state_dict']._metadata['backbone']['version'] == \
        model.state_dict()._metadata['backbone']['version']
