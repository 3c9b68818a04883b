"""Shared fixtures: tiny CLIP models built through open_clip's real classes, repo paths."""
import os
import os.path as osp
import warnings

# no network in tests: make huggingface_hub (imported by open_clip) fail fast instead of retrying
os.environ.setdefault('HF_HUB_OFFLINE', '1')

import pytest
import torch

import mmclipdepth  # noqa: F401
from mmengine.registry import init_default_scope

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DATA = osp.join(REPO, 'tests', 'data')
# ModifiedResNet(layers 1,1,1,1, width 8): layer4 has 8*32 = 256 channels; embed_dim 128 keeps the
# faithful "keep even channels" reduction (256 -> 128) of RN50 (2048 -> 1024).
TINY_CLIP_ARCH = dict(
    embed_dim=128,
    vision_cfg=dict(layers=[1, 1, 1, 1], width=8, head_width=8, image_size=64),
    text_cfg=dict(context_length=77, vocab_size=49408, width=32, heads=2, layers=2))
# quick_gelu=True: the paper configs' text activation (OpenAI CLIP), so tests exercise what users run
TINY_CLIP = dict(model_name='RN50', pretrained=None, arch_cfg=TINY_CLIP_ARCH, quick_gelu=True)
TINY_VIT_ARCH = dict(
    embed_dim=48,
    vision_cfg=dict(layers=2, width=32, head_width=16, patch_size=16, image_size=64),
    text_cfg=dict(context_length=77, vocab_size=49408, width=32, heads=2, layers=2))

warnings.filterwarnings('ignore', message='.*RANDOMLY INITIALISED.*')
warnings.filterwarnings('ignore', message='.*MultiScaleDeformableAttention.*')
# Threads of this process and of the processes tests start: 2 (the machine's cores), or 1 per worker when
# pytest-xdist runs two workers side by side (README's test command), so 2 workers x 1 thread fill the 2 cores
# instead of 4 threads contending for them.
CHILD_THREADS = '1' if os.environ.get('PYTEST_XDIST_WORKER') else '2'
if os.environ.get('PYTEST_XDIST_WORKER'):
    os.environ['OMP_NUM_THREADS'] = CHILD_THREADS
torch.set_num_threads(max(1, min(int(CHILD_THREADS), torch.get_num_threads())))
init_default_scope('mmseg')


@pytest.fixture
def tiny_clip_cfg():
    return dict(TINY_CLIP)


def tiny_model_cfg(template='baseline', depth_tokens='learned-7', bins='linear', max_depth=10.0,
                   test_mode='whole_flip', text_norm='auty_frobenius', **head_kwargs):
    """A CLIPDepthEstimator config with the tiny CLIP at model level (same structure as configs/_base_/models)."""
    return dict(
        type='CLIPDepthEstimator',
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
        clip=dict(TINY_CLIP),
        backbone=dict(type='CLIPPromptBackbone'),
        decode_head=dict(
            type='BinWeightedDepthHead',
            text_encoder=dict(type='LearnableTokenTextEncoder', template=template,
                              depth_tokens=depth_tokens, text_norm=text_norm),
            bins=bins, min_depth=1e-3, max_depth=max_depth, **head_kwargs),
        test_cfg=dict(mode=test_mode))


def tiny_runner_cfg(config='configs/clipdepth/nyu_baseline_learned7.py', work_dir='work_dirs/tmp',
                    dataset='nyu', max_iters=2, batch_size=2):
    """A repo config with the tiny CLIP and the bundled real samples: ``max_iters`` training iterations,
    validation/test on the bundled test frames. Returns an mmengine Config."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO, config))
    samples = Config.fromfile(osp.join(REPO, f'configs/_base_/datasets/{dataset}_samples.py'))
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key] = samples[key]
    cfg.train_dataloader.batch_size = batch_size
    cfg.model.clip = dict(TINY_CLIP)  # the model's one CLIP (sweep heads included)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
    schedules = cfg.param_scheduler.values() if isinstance(cfg.param_scheduler, dict) else [cfg.param_scheduler]
    for schedule in schedules:
        for sched in schedule:
            sched.update(by_epoch=False, total_steps=max_iters, convert_to_iter_based=False)
    cfg.default_hooks.checkpoint = dict(type='SafeCheckpointHook', by_epoch=False, interval=max_iters)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.log_processor = dict(by_epoch=False)
    cfg.work_dir = work_dir
    return cfg


@pytest.fixture(scope='session')
def local_clip_dir(tmp_path_factory):
    """An open_clip model folder (``clip.model_name='local-dir:DIR'``) holding a random CLIP of TINY_CLIP_ARCH with
    QuickGELU (the paper configs' activation): the offline stand-in for a downloaded CLIP, given through the real
    weights path. Built once per session."""
    from helpers.local_clip import make_local_clip_dir
    folder, _ = make_local_clip_dir(str(tmp_path_factory.mktemp('tiny_clip_dir')), TINY_CLIP_ARCH, quick_gelu=True)
    return folder
