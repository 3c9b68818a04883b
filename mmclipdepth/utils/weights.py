"""One message for every pretrained weight the plugin cannot find (CLIP, timm, transformers).

The loader (:mod:`mmclipdepth.models.utils.pretrained`) raises :class:`WeightsUnavailableError`, naming the config
key to set; the tools turn it into a clean last line that prints the exact ``--cfg-options`` to type
(:func:`exit_on_missing_weights`).
"""
import contextlib
from typing import Any, Dict, List, Optional

__all__ = ['WeightsUnavailableError', 'how_to_supply', 'cfg_options_hint',
           'explain_missing_weights', 'exit_on_missing_weights']


def how_to_supply(field: str, example: str, random_value: str = 'None') -> str:
    """The one wording for 'these weights can be supplied offline like this'."""
    return ('No network is needed if the weights are supplied one of these ways: (1) run once with network '
            'access so they are stored in the Hugging Face hub cache (HF_HOME / ~/.cache/huggingface, or '
            f'`cache_dir`), then work offline with HF_HUB_OFFLINE=1; (2) download them elsewhere and set '
            f"`{field}='{example}'`; (3) `{field}={random_value}` for random weights (tests and timing only).")


class WeightsUnavailableError(FileNotFoundError):
    """Pretrained weights that are neither local nor obtainable (not in the hub cache, and offline or the
    download failed).

    ``match`` is the part of the component's config that names the weights (e.g. ``dict(model_name='RN50',
    pretrained='openai')``); ``field`` the key to set to a local ``example`` path instead.
    """

    def __init__(self, what: str, match: Dict[str, Any], field: str, example: str, reason: str,
                 random_value: str = 'None'):
        self.what, self.match, self.field, self.example = what, dict(match), field, example
        super().__init__(f'{what}: {reason}. ' + how_to_supply(field, example, random_value))


def _find(node: Any, prefix: str, match: Dict[str, Any], out: List[str]):
    if isinstance(node, dict):
        if all(k in node and node[k] == v for k, v in match.items()):
            out.append(prefix)
        for k, v in node.items():
            _find(v, f'{prefix}.{k}' if prefix else str(k), match, out)
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            _find(v, f'{prefix}.{i}', match, out)


def cfg_options_hint(cfg: Any, err: WeightsUnavailableError) -> Optional[str]:
    """``--cfg-options`` setting every place of ``cfg`` (a Config or dict holding ``model``) that names the
    missing weights, or None if none is found."""
    model = cfg.get('model') if hasattr(cfg, 'get') else None
    places: List[str] = []
    _find(model.to_dict() if hasattr(model, 'to_dict') else model, 'model', err.match, places)
    if not places:
        return None
    return '--cfg-options ' + ' '.join(f'{p}.{err.field}={err.example}' for p in places)


def _with_hint(cfg: Any, e: WeightsUnavailableError) -> str:
    hint = None if getattr(e, 'hinted', False) else cfg_options_hint(cfg, e)
    return str(e) + (f'\nTo use local weights, add to the command line (every place this config names '
                     f'them):\n  {hint}' if hint else '')


@contextlib.contextmanager
def explain_missing_weights(cfg: Any):
    """Around a model build from ``cfg``: a :class:`WeightsUnavailableError` gets, as its last line, the exact
    ``--cfg-options`` that gives the weights as local files."""
    try:
        yield
    except WeightsUnavailableError as e:
        message = _with_hint(cfg, e)
        e.args = (message, )
        e.hinted = True
        raise


@contextlib.contextmanager
def exit_on_missing_weights(cfg: Any, tool: str):
    """Around a tool's model build: missing weights end the tool with exit code 1 and the message of
    :func:`explain_missing_weights` (no traceback: nothing is wrong with the code)."""
    try:
        yield
    except WeightsUnavailableError as e:
        raise SystemExit(f'{tool}: error: {_with_hint(cfg, e)}') from None
