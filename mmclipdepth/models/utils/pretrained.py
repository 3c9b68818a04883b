"""The one weights loader: CLIP (open_clip), ViT (timm) and language models (transformers), one policy.

``pretrained`` (or a transformers model name) is resolved the same way for the three libraries:

* ``None`` (timm also ``False``; transformers a config dict): random weights, with a loud warning;
* a local file or folder: loaded from it, the hub is never asked;
* a hub tag / name: the hub cache first, without any network (huggingface_hub's ``try_to_load_from_cache``,
  transformers' ``local_files_only=True``); if it is not there and the hub's offline switch ``HF_HUB_OFFLINE``
  is not set (nor the component's ``local_files_only``), the library's own download call.

Weights that are neither local nor obtainable raise :class:`~mmclipdepth.utils.weights.WeightsUnavailableError`:
one message naming the config key to set; the tools end with the exact ``--cfg-options`` line
(:func:`mmclipdepth.utils.weights.exit_on_missing_weights`).

There is no network probe and nothing is patched: on a machine without network, a download is given up after
huggingface_hub's own retries unless ``HF_HUB_OFFLINE=1`` is set, which fails at once (docs/install.md gives the
measured times).
"""
import logging
import os
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from mmengine.logging import print_log

from ...utils.weights import WeightsUnavailableError, how_to_supply

__all__ = ['hub_offline', 'is_local_path', 'hub_file', 'open_clip_weights', 'timm_model', 'transformers_model',
           'transformers_tokenizer', 'timm_how_to_supply', 'HF_RANDOM_VALUE']

#: what a transformers model is set to for random weights (a config dict; the tokenizer is then given on its own)
HF_RANDOM_VALUE = "dict(model_type='bert', ...) with `tokenizer` given"

_TRUE = ('1', 'true', 'yes', 'on')
_SKIP_NETWORK = 'HF_HUB_OFFLINE=1 makes this fail at once, without the hub client\'s retries'


def hub_offline() -> bool:
    """huggingface_hub's offline switch: ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) as the library read it
    at import, or as set in the environment since (the loads then pass ``local_files_only=True``)."""
    from huggingface_hub import constants
    if constants.is_offline_mode():
        return True
    return any(os.environ.get(k, '').lower() in _TRUE for k in ('HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE'))


def is_local_path(value: str) -> bool:
    """A path rather than a hub tag / name: it exists, or it is written as one (``/``, ``./``, ``~``, a weights
    file suffix)."""
    return (osp.exists(osp.expanduser(value)) or value.startswith(('/', './', '../', '~'))
            or value.endswith(('.pt', '.pth', '.bin', '.safetensors')))


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return f'{type(e).__name__}: {text.splitlines()[0]}' if text else type(e).__name__


def hub_file(repo_id: str, filenames: Sequence[str], *, cache_dir: Optional[str], local_files_only: bool,
             what: str, match: Dict[str, Any], field: str, example: str, random_value: str = 'None',
             revision: Optional[str] = None) -> str:
    """Local path of the first of ``filenames`` in hub repository ``repo_id``: from the hub cache (no network),
    else downloaded with ``hf_hub_download`` unless offline. Raises :class:`WeightsUnavailableError`."""
    from huggingface_hub import hf_hub_download, try_to_load_from_cache
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    def unavailable(reason, cause=None):
        err = WeightsUnavailableError(what, match, field, example, reason, random_value)
        err.__cause__ = cause
        return err

    for name in filenames:
        found = try_to_load_from_cache(repo_id, name, cache_dir=cache_dir, revision=revision)
        if isinstance(found, str) and osp.isfile(found):
            return found
    where = f'the hub cache ({cache_dir if cache_dir else "HF_HOME / ~/.cache/huggingface"})'
    if local_files_only or hub_offline():
        switch = 'local_files_only=True' if local_files_only else 'HF_HUB_OFFLINE is set'
        raise unavailable(f'not in {where} and {switch}, so the hub {repo_id} is not asked')
    for name in filenames:
        try:
            return hf_hub_download(repo_id, name, cache_dir=cache_dir, revision=revision)
        except LocalEntryNotFoundError as e:  # no connection (after the client's own retries), nothing cached
            raise unavailable(f'the model hub could not be reached for {repo_id}/{name} ({_first_line(e)}) and '
                              f'the weights are not in {where}; {_SKIP_NETWORK}', e) from e
        except EntryNotFoundError:  # the hub answered: no such file, try the next name
            continue
        except OSError as e:  # other hub answers (gated, unknown repo, ...) and disk errors
            raise unavailable(f'could not be downloaded from {repo_id}/{name}: {_first_line(e)}', e) from e
    raise unavailable(f'the hub repository {repo_id} holds none of {list(filenames)}')


# ---------------------------------------------------------------------------------------------------- CLIP
def _open_clip_hub_files(hf_hub: str) -> Tuple[str, List[str]]:
    """open_clip's ``hf_hub`` entry (``'org/repo/'`` or ``'org/repo/file'``) -> repo id, file names in the
    order open_clip tries them (safetensors first)."""
    repo_id, filename = hf_hub.rsplit('/', 1) if not hf_hub.endswith('/') else (hf_hub.rstrip('/'), '')
    if not filename:
        return repo_id, ['open_clip_model.safetensors', 'open_clip_pytorch_model.bin']
    if filename.endswith(('.bin', '.pth')):
        safe = 'open_clip_model.safetensors' if filename == 'open_clip_pytorch_model.bin' else \
            osp.splitext(filename)[0] + '.safetensors'
        return repo_id, [safe, filename]
    return repo_id, [filename]


def open_clip_weights(model_name: str, pretrained: str, cache_dir: Optional[str] = None,
                      local_files_only: bool = False) -> str:
    """CLIP entry: the local weights file for an open_clip pretrained tag (``'openai'``, ``'laion2b_s34b_b79k'``,
    ...), from the hub cache or downloaded (:func:`hub_file`). The caller loads it as it loads a user's file."""
    import open_clip
    cfg = open_clip.get_pretrained_cfg(model_name, pretrained) or {}
    what, match = f'CLIP {model_name}/{pretrained}', dict(model_name=model_name, pretrained=pretrained)
    example = f'/path/to/{model_name}.pt'
    if not cfg.get('hf_hub'):  # every open_clip 3.x tag has one; a url-only tag is not supported offline
        raise WeightsUnavailableError(what, match, 'pretrained', example,
                                      "open_clip's pretrained config names no hub repository for it")
    repo_id, files = _open_clip_hub_files(cfg['hf_hub'])
    return hub_file(repo_id, files, cache_dir=cache_dir, local_files_only=local_files_only, what=what, match=match,
                    field='pretrained', example=example)


# ---------------------------------------------------------------------------------------------------- timm
def timm_how_to_supply(model_name: str) -> str:
    """The shared wording (:func:`how_to_supply`) for a timm model's ``pretrained``."""
    return how_to_supply('pretrained', f'/path/to/{model_name}.safetensors')


def timm_model(model_name: str, pretrained: Union[None, bool, str], cache_dir: Optional[str] = None,
               local_files_only: bool = False, what: str = 'LoRAViT', **model_kwargs):
    """timm entry: ``timm.create_model`` with ``pretrained`` None / False (random), True (the model's default
    hub weights: cache, then download) or a local weights file (``pretrained_cfg_overlay=dict(file=...)``)."""
    import timm
    if model_name not in timm.list_models() and model_name.split('.')[0] not in timm.list_models():
        raise ValueError(f'{what}: unknown timm model_name {model_name!r} (see timm.list_models("vit_*"))')
    if pretrained is False or pretrained is None:
        print_log(f'{what}: {model_name} is RANDOMLY INITIALISED (pretrained=None); use only for tests.',
                  logger='current', level=logging.WARNING)
        return timm.create_model(model_name, pretrained=False, **model_kwargs)
    if isinstance(pretrained, str):
        path = osp.expanduser(pretrained)
        if not osp.isfile(path):
            raise FileNotFoundError(f'{what}: pretrained={pretrained!r} is not a file. '
                                    + timm_how_to_supply(model_name))
    elif pretrained is True:
        cfg = timm.models.get_pretrained_cfg(model_name)
        hub_id = getattr(cfg, 'hf_hub_id', None) if cfg is not None else None
        match, example = dict(model_name=model_name, pretrained=True), f'/path/to/{model_name}.safetensors'
        if not hub_id:
            raise WeightsUnavailableError(f'{what} {model_name}', match, 'pretrained', example,
                                          "timm's pretrained config names no hub repository for it")
        repo_id, _, revision = hub_id.partition('@')
        name = getattr(cfg, 'hf_hub_filename', None)
        files = ['model.safetensors', 'pytorch_model.bin'] if not name else \
            ([name] if name.endswith('.safetensors') else [osp.splitext(name)[0] + '.safetensors', name])
        path = hub_file(repo_id, files, cache_dir=cache_dir, local_files_only=local_files_only,
                        what=f'{what} {model_name}', match=match, field='pretrained', example=example,
                        revision=revision or None)
    else:
        raise TypeError(f'{what}: pretrained must be None (random), True (hub) or a file path, got {pretrained!r}')
    return timm.create_model(model_name, pretrained=True, pretrained_cfg_overlay=dict(file=path), **model_kwargs)


# ---------------------------------------------------------------------------------------------- transformers
def _hf_from_pretrained(load, spec: str, *, cache_dir, local_files_only, what: str, match: Dict[str, Any],
                        field: str, adapter_kwargs: bool = False, **kwargs):
    """``load`` (a transformers ``from_pretrained``) on a local folder, or on a hub name: cache first
    (``local_files_only=True``), then the library's own download unless offline.

    ``adapter_kwargs`` (``AutoModel``): transformers 5 looks for a peft ``adapter_config.json`` without the
    call's ``local_files_only`` / ``cache_dir`` (``auto_factory.from_pretrained`` passes only ``adapter_kwargs`` to
    ``find_adapter_config_file``), which asks the hub, with its retries, even for a cached model; they are given
    there too, through that documented argument."""

    def call(name, local_only, **kw):
        if adapter_kwargs:
            kw['adapter_kwargs'] = dict(local_files_only=local_only, cache_dir=cache_dir)
        return load(name, local_files_only=local_only, **kw, **kwargs) if local_only else load(name, **kw, **kwargs)

    path = osp.expanduser(spec)
    if is_local_path(spec):
        if not osp.isdir(path):
            raise FileNotFoundError(f'{what} folder {spec!r} does not exist. '
                                    + how_to_supply(field, '/path/to/folder', HF_RANDOM_VALUE))
        try:
            return call(path, True)
        except OSError as e:  # the folder is not a model folder: no hub could help
            raise OSError(f'{what}: could not load from the folder {spec!r}: {_first_line(e)}') from e
    try:
        return call(spec, True, cache_dir=cache_dir)
    except OSError as e:
        cached_error = e
    args = (what, match, field, '/path/to/folder')
    if local_files_only or hub_offline():
        switch = 'local_files_only=True' if local_files_only else 'HF_HUB_OFFLINE is set'
        raise WeightsUnavailableError(*args, f'not in the hub cache and {switch}, so the hub is not asked',
                                      HF_RANDOM_VALUE) from cached_error
    try:
        return call(spec, False, cache_dir=cache_dir)
    except OSError as e:
        raise WeightsUnavailableError(*args, f'not in the hub cache and could not be downloaded ({_first_line(e)}); '
                                      f'{_SKIP_NETWORK}', HF_RANDOM_VALUE) from e


def transformers_model(spec: Union[str, dict], cache_dir: Optional[str] = None, local_files_only: bool = False,
                       what: str = 'model'):
    """transformers entry: ``AutoModel`` from a hub name / local folder, or from a config dict
    ``dict(model_type='bert' | 'gpt2' | ..., **config_kwargs)`` (random weights, warned)."""
    from transformers import AutoConfig, AutoModel
    if isinstance(spec, dict):
        kwargs = dict(spec)
        model_type = kwargs.pop('model_type', None)
        if model_type is None:
            raise ValueError(f'HFLanguageModel: {what} config dict needs a "model_type" key (e.g. "bert"), '
                             f'got keys {sorted(spec)}')
        config = AutoConfig.for_model(model_type, **kwargs)
        print_log(f'HFLanguageModel: {what} ({model_type}) is RANDOMLY INITIALISED from a config dict; use '
                  'only for tests.', logger='current', level=logging.WARNING)
        return AutoModel.from_config(config)
    if not isinstance(spec, str):
        raise TypeError(f'HFLanguageModel: {what} must be a hub name, a local folder or a config dict, '
                        f'got {spec!r}')
    return _hf_from_pretrained(AutoModel.from_pretrained, spec, cache_dir=cache_dir,
                               local_files_only=local_files_only, what=f'HFLanguageModel {what} {spec!r}',
                               match={what: spec}, field=what, adapter_kwargs=True)


def transformers_tokenizer(spec: Union[None, str, dict], fallback: Union[str, dict], cache_dir: Optional[str] = None,
                           local_files_only: bool = False):
    """The tokenizer: ``spec`` (a hub name, a folder, or ``dict(type='BertTokenizer', name_or_path=...)``), or the
    one of ``fallback`` (the ``embed_model`` name) when None."""
    import transformers
    field = 'tokenizer'
    if spec is None:
        if not isinstance(fallback, str):
            raise ValueError('HFLanguageModel: embed_model is a config dict, so `tokenizer` must be given '
                             "(a hub name, a local folder, or dict(type='BertTokenizer', name_or_path=...)).")
        spec, field = fallback, 'embed_model'
    kwargs = {}
    if isinstance(spec, dict):
        kwargs = dict(spec)
        cls_name = kwargs.pop('type', 'AutoTokenizer')
        cls = getattr(transformers, cls_name, None)
        if cls is None:
            raise ValueError(f'HFLanguageModel: unknown tokenizer type {cls_name!r} in transformers')
        name = kwargs.pop('name_or_path')
        load, match = cls.from_pretrained, {'name_or_path': name}
        field = 'name_or_path'
    else:
        name, load, match = spec, transformers.AutoTokenizer.from_pretrained, {field: spec}
    return _hf_from_pretrained(load, name, cache_dir=cache_dir, local_files_only=local_files_only,
                               what=f'HFLanguageModel tokenizer {name!r}', match=match, field=field, **kwargs)
