"""Build (and share) open_clip CLIP models: by name + pretrained tag / local file, or from an arch dict.

``load_clip`` is the one place CLIP weights are created. A depth estimator calls it once with its model-level
``clip=dict(...)`` and hands the instance to its image tower and text tower(s) (``clip_model=``), so a model
loads CLIP once and one key (``model.clip.pretrained``) sets its weights.
"""
import contextlib
import functools
import json
import logging
import os
import os.path as osp
import warnings
import zipfile
from typing import Optional, Tuple

import open_clip
import torch
from mmengine.logging import MMLogger, print_log

from ...utils.weights import how_to_supply
from .pretrained import open_clip_weights

__all__ = ['load_clip', 'clip_parameters_digest', 'build_clip_tokenizer', 'resolve_quick_gelu', 'weights_quick_gelu',
           'text_activation']

_OPENAI_KEYS = {'input_resolution', 'context_length', 'vocab_size'}

_HOW_TO_SUPPLY = how_to_supply('pretrained', '/path/to/file')  # e.g. OpenAI's RN50.pt, open_clip_pytorch_model.bin


def _looks_like_path(pretrained: str) -> bool:
    return (os.sep in pretrained or pretrained.startswith('~')
            or pretrained.endswith(('.pt', '.pth', '.bin', '.safetensors')))


def _is_torchscript_archive(path: str) -> bool:
    """OpenAI's released CLIP files (``RN50.pt`` ...) are TorchScript archives: a zip with a ``code/`` folder."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any('/code/' in n or n.endswith('/constants.pkl') for n in zf.namelist())


def _peek_state_dict_keys(path: str) -> Optional[set]:
    """Top-level keys of a state-dict file without reading its tensors (None if it cannot be peeked)."""
    if path.endswith('.safetensors'):
        try:
            from safetensors import safe_open
            with safe_open(path, framework='pt') as f:
                return set(f.keys())
        except Exception:  # noqa: BLE001 - the real load reports the problem with the file named
            return None
    from ...checkpoint.reader import safe_torch_load  # the package's one torch.load: archive checks, allow-list
    try:
        obj = safe_torch_load(path, map_location='cpu', verify=False, mmap=True)
    except Exception:  # noqa: BLE001 - not peekable (legacy file, made elsewhere): open_clip's loader decides
        return None
    if isinstance(obj, dict) and isinstance(obj.get('state_dict'), dict):
        obj = obj['state_dict']
    return set(obj) if isinstance(obj, dict) else None


def _local_format(path: str) -> str:
    """'torchscript' (OpenAI's released archives), 'openai' (an OpenAI-format state dict) or 'other'; read
    once per file version (the activation check and the load both ask)."""
    st = os.stat(path)
    return _local_format_cached(osp.abspath(path), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=16)
def _local_format_cached(path: str, mtime_ns: int, size: int) -> str:
    if _is_torchscript_archive(path):
        return 'torchscript'
    return 'openai' if _OPENAI_KEYS & (_peek_state_dict_keys(path) or set()) else 'other'


def weights_quick_gelu(model_name: str, pretrained: Optional[str], arch_cfg: Optional[dict] = None
                       ) -> Tuple[Optional[bool], str]:
    """The text activation the weights were trained with: (True = QuickGELU, False = GELU, None = unknown), why.

    OpenAI's CLIP uses QuickGELU ``x * sigmoid(1.702 x)`` in every text-transformer MLP (Radford et al. 2021;
    OpenAI ``clip/model.py``); open_clip's plain ``RN50`` architecture config builds ``nn.GELU``. Known: an
    open_clip pretrained tag (its pretrained config's ``quick_gelu``), a ``*-quickgelu`` model name, an OpenAI
    TorchScript archive or an OpenAI-format state dict (it holds ``input_resolution`` / ``context_length`` /
    ``vocab_size``). Unknown: random weights, or a state-dict file that does not say.
    """
    if _is_local_dir(model_name):
        q = (_local_dir_config(model_name).get('model_cfg') or {}).get('quick_gelu')
        where = f"{model_name[len(_LOCAL_DIR):]}/open_clip_config.json"
        return (None, f'{where} (no model_cfg.quick_gelu)') if q is None else (bool(q), where)
    if pretrained is None:
        return None, 'random weights'
    if not _looks_like_path(pretrained):
        if arch_cfg is None and model_name.endswith('-quickgelu'):
            return True, f'model name {model_name!r}'
        cfg = open_clip.get_pretrained_cfg(model_name, pretrained) if arch_cfg is None else {}
        if not cfg:
            return None, f'pretrained tag {pretrained!r}'
        return bool(cfg.get('quick_gelu', False)), f"open_clip's pretrained config for {model_name}/{pretrained}"
    path = osp.expanduser(pretrained)
    if not osp.isfile(path):
        raise FileNotFoundError(f'CLIP pretrained checkpoint file {pretrained!r} does not exist. ' + _HOW_TO_SUPPLY)
    kind = _local_format(path)
    if kind == 'torchscript':
        return True, f'{pretrained!r} is an OpenAI TorchScript archive'
    if kind == 'openai':
        return True, f'{pretrained!r} is an OpenAI-format state dict'
    return None, f'file {pretrained!r} (an open_clip-format state dict does not record its activation)'


def resolve_quick_gelu(model_name: str = 'RN50', pretrained: Optional[str] = None, arch_cfg: Optional[dict] = None,
                       quick_gelu: Optional[bool] = None) -> bool:
    """Decide the text activation, refusing a config that contradicts the weights (never just a warning)."""
    arch_q = None
    if arch_cfg is not None and 'quick_gelu' in arch_cfg:
        arch_q = bool(arch_cfg['quick_gelu'])
        if quick_gelu is not None and bool(quick_gelu) != arch_q:
            raise ValueError(f'clip.quick_gelu={quick_gelu} contradicts clip.arch_cfg.quick_gelu={arch_q}; set one.')
    asked = quick_gelu if quick_gelu is not None else arch_q
    needed, why = weights_quick_gelu(model_name, pretrained, arch_cfg)
    if needed is not None:
        if asked is not None and bool(asked) != needed:
            act = 'QuickGELU' if needed else 'GELU'
            raise ValueError(
                f'CLIP text activation mismatch: the weights need {act} ({why}) but the config asks for '
                f'quick_gelu={asked}. Set clip.quick_gelu={needed} (every text feature changes otherwise: '
                'OpenAI weights were trained with QuickGELU).')
        return needed
    if asked is not None:
        return bool(asked)
    if pretrained is None and not _is_local_dir(model_name):
        if arch_cfg is not None:
            return False
        cfg = open_clip.get_model_config(model_name) or {}
        return bool(cfg.get('quick_gelu', False))
    raise ValueError(
        f'Cannot tell which text activation the CLIP weights were trained with ({why}). Set clip.quick_gelu=True '
        'for weights trained by OpenAI (e.g. an OpenAI RN50 converted to open_clip format) or '
        'clip.quick_gelu=False for weights trained with GELU (most LAION / DataComp open_clip weights).')


def clip_parameters_digest(model: torch.nn.Module) -> torch.Tensor:
    """SHA-256 of a CLIP's parameters (names, shapes and fp32 bytes in state-dict order; not the BatchNorm
    running statistics, which faithful training moves) as a uint8 tensor of 32 values."""
    import hashlib
    h = hashlib.sha256()
    for name, p in model.named_parameters():
        t = p.detach().to('cpu', torch.float32).contiguous()
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes())
    return torch.tensor(list(h.digest()), dtype=torch.uint8)


def text_activation(model: torch.nn.Module) -> str:
    """``'quick_gelu'`` or ``'gelu'``: the activation actually built into every text-transformer MLP."""
    from open_clip.transformer import QuickGELU
    kinds = set()
    for blk in model.transformer.resblocks:
        act = getattr(blk.mlp, 'gelu', None)
        kinds.add('quick_gelu' if isinstance(act, QuickGELU) else
                  'gelu' if isinstance(act, torch.nn.GELU) else type(act).__name__)
    if len(kinds) != 1:
        raise RuntimeError(f'text transformer has mixed MLP activations {sorted(kinds)}')
    return kinds.pop()


def _load_torchscript_state_dict(path: str) -> dict:
    try:
        with warnings.catch_warnings():  # torch >= 2.10 marks TorchScript deprecated; OpenAI's files still are
            warnings.simplefilter('ignore', FutureWarning)
            sd = torch.jit.load(path, map_location='cpu').state_dict()
    except Exception as e:  # noqa: BLE001 - re-raised with the file named
        raise RuntimeError(f'Could not read the OpenAI TorchScript CLIP archive {path!r}: {e}') from e
    sd = {k: v.float() if v.is_floating_point() else v for k, v in sd.items()}
    for key in _OPENAI_KEYS:
        sd.pop(key, None)
    return sd


_LOCAL_DIR = 'local-dir:'
# the weight files open_clip looks for in a model folder (open_clip.factory._find_checkpoint_in_dir)
_LOCAL_DIR_WEIGHTS = ('open_clip_model.safetensors', 'open_clip_pytorch_model.safetensors',
                      'open_clip_pytorch_model.bin', 'open_clip_pytorch_model.pth')


def _is_local_dir(model_name: str) -> bool:
    return isinstance(model_name, str) and model_name.startswith(_LOCAL_DIR)


def _local_dir_config(model_name: str) -> dict:
    """The ``open_clip_config.json`` of a ``local-dir:`` model folder (the layout of every open_clip model
    repository on the hub: ``open_clip_config.json`` + ``open_clip_model.safetensors``), checked: the folder, its
    config and its weights must exist (open_clip itself only warns and builds random weights without them)."""
    folder = osp.expanduser(model_name[len(_LOCAL_DIR):])
    cfg_path = osp.join(folder, 'open_clip_config.json')
    if not osp.isdir(folder):
        raise FileNotFoundError(f'CLIP model folder {folder!r} (clip.model_name={model_name!r}) does not exist. '
                                + _HOW_TO_SUPPLY)
    if not osp.isfile(cfg_path):
        raise FileNotFoundError(f'CLIP model folder {folder!r} has no open_clip_config.json (an open_clip model '
                                'folder holds open_clip_config.json and open_clip_model.safetensors).')
    if not any(osp.isfile(osp.join(folder, n)) for n in _LOCAL_DIR_WEIGHTS):
        raise FileNotFoundError(f'CLIP model folder {folder!r} holds no weights: expected one of '
                                f'{", ".join(_LOCAL_DIR_WEIGHTS)}.')
    try:
        with open(cfg_path, encoding='utf-8') as f:
            cfg = json.load(f)
    except ValueError as e:
        raise ValueError(f'{cfg_path!r} is not valid JSON: {e}') from e
    if not isinstance(cfg, dict) or not isinstance(cfg.get('model_cfg'), dict):
        raise ValueError(f'{cfg_path!r} has no "model_cfg" object (open_clip\'s model folder format).')
    return cfg


def _build(model_name: str, pretrained: Optional[str], arch_cfg: Optional[dict],
           cache_dir: Optional[str], quick_gelu: bool, from_checkpoint: bool = False) -> torch.nn.Module:
    if _is_local_dir(model_name):
        if arch_cfg is not None:
            raise ValueError(f'clip.model_name={model_name!r} names a model folder, which carries its architecture: '
                             'set clip.arch_cfg=None.')
        _local_dir_config(model_name)
        if pretrained is not None:
            MMLogger.get_current_instance().info(
                f'CLIP weights come from the model folder {model_name!r}; pretrained={pretrained!r} is not used.')
        try:
            with _quiet_random_notice():  # the folder's weights are loaded by create_model itself
                model = open_clip.create_model(model_name, force_quick_gelu=quick_gelu)
        except Exception as e:  # noqa: BLE001 - re-raised with the folder named
            raise RuntimeError(f'Could not load the CLIP model folder {model_name!r}: {type(e).__name__}: {e}') from e
        MMLogger.get_current_instance().info(f'Loaded CLIP weights from the model folder {model_name!r}')
        return model.float()
    if arch_cfg is not None:
        cfg = dict(arch_cfg)
        cfg['quick_gelu'] = quick_gelu
        try:
            model = open_clip.model.CLIP(**cfg)
        except TypeError as e:
            raise ValueError(f'CLIP arch_cfg {arch_cfg!r} is not a valid open_clip CLIP config: {e}') from e
    elif model_name not in open_clip.list_models():
        raise ValueError(f'Unknown open_clip model_name {model_name!r}; expected one of '
                         f'open_clip.list_models() (e.g. RN50, RN101, ViT-B-16) or an arch_cfg dict.')
    if pretrained is None:
        _warn_random_once(model_name if arch_cfg is None else '(custom arch_cfg)', from_checkpoint)
        if arch_cfg is None:
            with _quiet_random_notice():  # (said once, above, in our own words)
                model = open_clip.create_model(model_name, pretrained=None, force_quick_gelu=quick_gelu)
        return model.float()

    if not _looks_like_path(pretrained):
        if arch_cfg is not None:
            raise ValueError(f'pretrained={pretrained!r} is a tag, which needs a named model; with arch_cfg '
                             'pass a local checkpoint path instead.')
        tags = open_clip.list_pretrained_tags_by_model(model_name)
        if pretrained not in tags:
            raise ValueError(f'open_clip has no pretrained tag {pretrained!r} for {model_name}; '
                             f'available: {tags}, or a local checkpoint path.')
        # the one weights loader: hub cache first, download unless HF_HUB_OFFLINE; then loaded as a file
        path = open_clip_weights(model_name, pretrained, cache_dir)
        source = f'{pretrained!r} ({path})'
    else:
        path = osp.expanduser(pretrained)
        if not osp.isfile(path):
            raise FileNotFoundError(f'CLIP pretrained checkpoint file {pretrained!r} does not exist. '
                                    + _HOW_TO_SUPPLY)
        source = repr(path)
    if arch_cfg is None:
        with _quiet_random_notice():  # the weights are loaded right below
            model = open_clip.create_model(model_name, pretrained=None, force_quick_gelu=quick_gelu)
    try:
        kind = _local_format(path)
        if kind == 'torchscript':
            model.load_state_dict(_load_torchscript_state_dict(path))
        elif kind == 'openai':
            # OpenAI-format state dict: open_clip's key names plus three metadata entries
            sd = open_clip.factory.load_state_dict(path)
            model.load_state_dict({k: v.float() if v.is_floating_point() else v
                                   for k, v in sd.items() if k not in _OPENAI_KEYS})
        else:
            open_clip.load_checkpoint(model, path)
    except Exception as e:  # noqa: BLE001 - re-raised with the file named
        raise RuntimeError(f'Could not load CLIP {model_name if arch_cfg is None else "(arch_cfg)"} weights '
                           f'from {path!r}: {e}') from e
    MMLogger.get_current_instance().info(f'Loaded CLIP {model_name} weights {source}')
    return model.float()


class _DropRandomNotice(logging.Filter):
    def filter(self, record):
        return not str(record.msg).startswith('No pretrained weights loaded for model')


@contextlib.contextmanager
def _quiet_random_notice():
    """open_clip logs 'No pretrained weights loaded ... initialized randomly' on the root logger for every
    model built without a tag; here that is either intended (said once by ``_warn_random_once``) or followed by
    loading the weights."""
    flt = _DropRandomNotice()
    root = logging.getLogger()
    root.addFilter(flt)
    for h in root.handlers:
        h.addFilter(flt)
    try:
        yield
    finally:
        root.removeFilter(flt)
        for h in root.handlers:
            h.removeFilter(flt)


_WARNED_RANDOM = set()


def _warn_random_once(what: str, from_checkpoint: bool = False):
    if what in _WARNED_RANDOM or from_checkpoint:
        return
    _WARNED_RANDOM.add(what)
    msg = (f'CLIP {what} is RANDOMLY INITIALISED (pretrained=None): depth predictions are meaningless except for '
           'tests and timing. ' + _HOW_TO_SUPPLY)
    print_log(msg, logger='current', level=30)  # once per process, as a log line


def load_clip(model_name: str = 'RN50',
              pretrained: Optional[str] = None,
              arch_cfg: Optional[dict] = None,
              cache_dir: Optional[str] = None,
              quick_gelu: Optional[bool] = None,
              from_checkpoint: bool = False) -> torch.nn.Module:
    """Return a frozen fp32 open_clip ``CLIP`` model.

    Args:
        model_name: open_clip model name (``RN50``, ``ViT-B-16``, ...). Ignored when ``arch_cfg`` is given.
        pretrained: open_clip tag (``'openai'``), a local checkpoint path (OpenAI TorchScript ``RN50.pt`` or a
            state dict), or None (random init, warns once per process).
        arch_cfg: ``dict(embed_dim, vision_cfg, text_cfg, ...)`` for a custom (e.g. tiny) CLIP.
        cache_dir: download / hub cache directory.
        quick_gelu: text-transformer activation: True = QuickGELU (OpenAI), False = GELU, None = what the weights
            need (see :func:`resolve_quick_gelu`). A value that contradicts the weights raises ``ValueError``.
        from_checkpoint: the weights will be overwritten by a checkpoint that carries them (set by the tools that
            load one, with ``pretrained=None``): built random without the random-weights warning.
    """
    resolved = resolve_quick_gelu(model_name, pretrained, arch_cfg, quick_gelu)
    model = _build(model_name, pretrained, arch_cfg, cache_dir, resolved, from_checkpoint)
    built = text_activation(model) == 'quick_gelu'
    if built != resolved:
        raise RuntimeError(f'CLIP was built with {"QuickGELU" if built else "GELU"} but '
                           f'{"QuickGELU" if resolved else "GELU"} was resolved; please report this.')
    model.requires_grad_(False)
    return model


def build_clip_tokenizer(model_name: str = 'RN50', arch_cfg: Optional[dict] = None):
    """CLIP's BPE tokenizer (ships inside open_clip, works offline)."""
    if arch_cfg is not None:
        ctx = (arch_cfg.get('text_cfg') or {}).get('context_length', 77)
        return open_clip.tokenizer.SimpleTokenizer(context_length=ctx)
    return open_clip.get_tokenizer(model_name)
