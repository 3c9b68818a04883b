"""Real leaf configs with the tiny CLIP of conftest (TINY_CLIP) as the model's one CLIP (``model.clip``)."""
import os.path as osp

from mmengine.config import Config

from conftest import REPO, TINY_CLIP

def tiny_config(config: str) -> Config:
    """``configs/<config>`` (e.g. ``clipdepth/nyu_baseline_learned7.py``) with the tiny CLIP."""
    cfg = Config.fromfile(osp.join(REPO, 'configs', config))
    cfg.model.clip = dict(TINY_CLIP)
    return cfg


def dump_tiny_config(config: str, folder) -> str:
    """Write ``tiny_config(config)`` to a .py file in ``folder`` (for the command-line tools); return its path."""
    path = osp.join(str(folder), 'tiny_' + osp.basename(config))
    tiny_config(config).dump(path)
    return path
