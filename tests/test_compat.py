"""The compatibility layer: mmcv.ops stand-in, safe checkpoint loading (its old names); the mmengine fixes
applied by DepthRunner (CPU distributed init, config text formatted once) and nothing patched at import."""
import copy
import io
import os
import pickle
import subprocess
import sys
import types

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmclipdepth import _compat


def test_standin_exposes_pure_torch_point_sample():
    if not _compat.MMCV_OPS_STANDIN:
        pytest.skip('full mmcv installed: the stand-in steps aside')
    from mmcv.ops import point_sample
    feat = torch.arange(16.0).view(1, 1, 4, 4)
    pts = torch.tensor([[[0.125, 0.125], [0.875, 0.625]]])  # normalised [0, 1] (x, y)
    got = point_sample(feat, pts, align_corners=False)
    expected = F.grid_sample(feat, (pts * 2 - 1).unsqueeze(2), align_corners=False).squeeze(3)
    torch.testing.assert_close(got, expected)
    # (0.125, 0.125) is the centre of pixel (0, 0): exactly its value
    assert got[0, 0, 0].item() == 0.0


def test_standin_compiled_ops_raise_clear_errors():
    if not _compat.MMCV_OPS_STANDIN:
        pytest.skip('full mmcv installed')
    ops = sys.modules['mmcv.ops']
    with pytest.raises(ModuleNotFoundError, match='mmcv-lite'):
        from mmcv.ops import DeformConv2d  # noqa: F401
    with pytest.raises(AttributeError):
        ops.__file__  # dunder probes must be AttributeError (inspect.getmodule)
    from mmcv.ops import sigmoid_focal_loss  # imported unguarded by mmseg: importable, fails on use
    with pytest.raises(ModuleNotFoundError, match='sigmoid_focal_loss'):
        sigmoid_focal_loss(torch.zeros(1), torch.zeros(1))
    import mmseg.models  # noqa: F401  (the import that fails without the stand-in)


def test_standin_steps_aside_when_compiled_ops_exist(monkeypatch):
    sentinel = types.ModuleType('mmcv.ops')
    monkeypatch.setitem(sys.modules, 'mmcv.ops', sentinel)
    assert _compat._install_mmcv_ops_standin() is False
    assert sys.modules['mmcv.ops'] is sentinel
    monkeypatch.delitem(sys.modules, 'mmcv.ops')
    monkeypatch.setattr(_compat, '_mmcv_has_compiled_ops', lambda: True)
    assert _compat._install_mmcv_ops_standin() is False
    assert 'mmcv.ops' not in sys.modules


def test_mmengine_checkpoint_globals_load_with_weights_only(tmp_path):
    from mmengine.logging.history_buffer import HistoryBuffer
    buf = HistoryBuffer()
    buf.update(1.5)
    ckpt = dict(meta=dict(epoch=1, seed=np.int64(3), arr=np.arange(3.0)),
                message_hub=dict(log_scalars={'loss': buf}), state_dict={'w': torch.ones(2)})
    path = tmp_path / 'ok.pth'
    torch.save(ckpt, path)
    from mmengine.runner.checkpoint import _load_checkpoint
    loaded = _load_checkpoint(str(path), map_location='cpu')
    assert loaded['message_hub']['log_scalars']['loss'].current() == 1.5
    np.testing.assert_array_equal(loaded['meta']['arr'], np.arange(3.0))


def test_history_buffer_checkpoint_loads_in_a_fresh_process(tmp_path):
    # a fresh process has not created any HistoryBuffer yet (mmengine fills its method registry lazily)
    from mmengine.logging.history_buffer import HistoryBuffer
    buf = HistoryBuffer()
    buf.update(2.5)
    path = tmp_path / 'hb.pth'
    torch.save({'message_hub': {'log_scalars': {'loss': buf}}}, path)
    code = ('import mmclipdepth, sys; from mmengine.runner.checkpoint import _load_checkpoint; '
            f'c = _load_checkpoint({str(path)!r}); sys.exit(0 if c["message_hub"]["log_scalars"]["loss"]'
            '.current() == 2.5 else 3)')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]


class _Evil:
    def __reduce__(self):
        return (os.system, ('echo pwned > /tmp/mmclipdepth_pwned',))


def test_malicious_checkpoint_is_refused_with_file_named(tmp_path):
    path = tmp_path / 'evil.pth'
    with open(path, 'wb') as f:
        torch.save({'state_dict': {}, 'payload': _Evil()}, f)
    if os.path.exists('/tmp/mmclipdepth_pwned'):
        os.remove('/tmp/mmclipdepth_pwned')
    from mmengine.runner.checkpoint import _load_checkpoint
    with pytest.raises(_compat.UnsafeCheckpointError, match='evil.pth'):
        _load_checkpoint(str(path), map_location='cpu')
    assert not os.path.exists('/tmp/mmclipdepth_pwned')


class _GetattrAbuse:
    def __reduce__(self):
        from mmengine.logging.history_buffer import HistoryBuffer
        return (getattr, (HistoryBuffer, '__init__'))


def test_getattr_is_only_allowed_for_history_buffer_statistics(tmp_path):
    path = tmp_path / 'getattr.pth'
    torch.save({'x': _GetattrAbuse()}, path)
    with pytest.raises(pickle.UnpicklingError, match='getattr.pth'):
        _compat.safe_torch_load(str(path))


def test_missing_checkpoint_names_the_file(tmp_path):
    from mmengine.runner.checkpoint import _load_checkpoint
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        _load_checkpoint(str(tmp_path / 'nope.pth'))


def test_importing_the_plugin_patches_nothing_in_mmengine():
    """A process that only imports mmclipdepth runs mmengine and torch as released: the mmengine fixes live in
    DepthRunner, not in import-time patches."""
    code = (
        'import torch, mmengine.dist.utils as du, mmengine.config.config as cm\n'
        'before = (du._init_dist_pytorch, du.init_dist, cm.FormatCode, cm.Config.pretty_text, torch.cuda.set_device)\n'
        'import mmclipdepth\n'
        'after = (du._init_dist_pytorch, du.init_dist, cm.FormatCode, cm.Config.pretty_text, torch.cuda.set_device)\n'
        'print([a is b for a, b in zip(before, after)])\n'
        'print(du._init_dist_pytorch.__module__, hasattr(du._init_dist_pytorch, "__wrapped__"), '
        'hasattr(cm.FormatCode, "__wrapped__"))\n')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.strip().splitlines()
    assert lines[-2] == str([True] * 5), out.stdout
    assert lines[-1] == 'mmengine.dist.utils False False', out.stdout


def test_cuda_device_selection_skipped_only_without_cuda(monkeypatch):
    from mmclipdepth.engine.runner import cuda_device_selection_skipped
    calls = []
    monkeypatch.setattr(torch.cuda, 'set_device', lambda *a, **k: calls.append(a))
    original = torch.cuda.set_device
    with cuda_device_selection_skipped():
        torch.cuda.set_device(0)
    assert torch.cuda.set_device is original  # restored
    assert calls == ([(0, )] if torch.cuda.is_available() else [])


def test_format_once_config_formats_once_and_unchanged(monkeypatch):
    """mmengine's ``Config.pretty_text`` (read five times by a training Runner) runs yapf on every read; the
    runner's ``FormatOnceConfig`` runs it once per config text, and the text is exactly mmengine's."""
    import yapf.yapflib.yapf_api as yapf_api
    from mmengine.config import Config
    from mmclipdepth.engine.runner import FormatOnceConfig, format_once
    trees = []
    format_tree = yapf_api.FormatTree
    monkeypatch.setattr(yapf_api, 'FormatTree', lambda *a, **k: trees.append(1) or format_tree(*a, **k))
    plain = Config(dict(model=dict(type='M', depth=[1, 2, 3], name='x' * 90), work_dir=f'w_{id(trees)}'))
    reference = plain.pretty_text
    assert plain.pretty_text == reference and len(trees) == 2  # mmengine's Config: yapf at every read
    cfg = format_once(plain)
    assert isinstance(cfg, FormatOnceConfig)
    first, second = cfg.pretty_text, cfg.pretty_text
    assert first == second == reference and len(trees) == 3
    cfg.model.depth = [4]  # a changed config is formatted again
    changed = cfg.pretty_text
    assert len(trees) == 4 and changed != first and "'x" in changed
    assert cfg.pretty_text == changed and len(trees) == 4
    assert Config.pretty_text.fget(cfg) == changed and len(trees) == 5  # mmengine's own formatting of it
    clone = copy.deepcopy(cfg)  # the Runner deep-copies its config: the class (and its cache) go along
    assert type(clone) is FormatOnceConfig and clone.pretty_text == changed and len(trees) == 5
    clone.model.name = 'y'
    assert "'y'" in clone.pretty_text and cfg.pretty_text == changed and len(trees) == 6
