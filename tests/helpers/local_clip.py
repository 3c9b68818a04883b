"""A tiny open_clip model folder (``local-dir:DIR``): the layout of every open_clip model repository on the hub,
``DIR/open_clip_config.json`` ({"model_cfg": {...}}) + ``DIR/open_clip_model.safetensors``, with random weights.
Tests give it to the configs through the real weights path, ``clip.model_name='local-dir:DIR'``, as a user gives
a downloaded model folder offline."""
import json
import os
import os.path as osp

import torch


def make_local_clip_dir(folder, arch_cfg, quick_gelu=True, seed=0):
    """Write a random CLIP of ``arch_cfg`` (open_clip ``CLIP`` kwargs) as an open_clip model folder; return
    ``(folder, state_dict)``: the tensors saved, for comparisons."""
    import open_clip
    from safetensors.torch import save_file
    os.makedirs(folder, exist_ok=True)
    model_cfg = dict(arch_cfg, quick_gelu=bool(quick_gelu))
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = open_clip.model.CLIP(**model_cfg)
    finally:
        torch.random.set_rng_state(gen_state)
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    save_file(state, osp.join(folder, 'open_clip_model.safetensors'))
    with open(osp.join(folder, 'open_clip_config.json'), 'w', encoding='utf-8') as f:
        json.dump(dict(model_cfg=model_cfg,
                       preprocess_cfg=dict(mean=[0.48145466, 0.4578275, 0.40821073],
                                           std=[0.26862954, 0.26130258, 0.27577711])), f, indent=1)
    return folder, state
