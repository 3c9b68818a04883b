# Runtime shared by every mmclipdepth config.
default_scope = 'mmseg'
custom_imports = dict(imports=['mmclipdepth'], allow_failed_imports=False)
# mmengine's Runner with two fixes (mmclipdepth/engine/runner/): distributed launch without CUDA, config text
# formatted once; mmseg's tools/train.py and ours build it through RUNNERS
runner_type = 'DepthRunner'
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # 'nccl' on GPUs; DepthRunner switches to 'gloo' when CUDA is absent
    dist_cfg=dict(backend='nccl'),
)
vis_backends = [dict(type='LocalVisBackend')]
# GT and prediction in one colormap and range, colour bars in metres, invalid GT grey, abs_rel error panel
visualizer = dict(type='DepthLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(by_epoch=True)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=True),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # atomic saves (a kill or a full disk never loses the run), exact --resume (generator states saved), small
    # checkpoints: the frozen CLIP is left out and restored from the configured weights (digest-checked)
    checkpoint=dict(type='SafeCheckpointHook', by_epoch=True, interval=5, max_keep_ckpts=2, save_last=True,
                    save_frozen=False),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # interval 1: mmseg's tools/test.py --show-dir paints every image (draw stays off otherwise)
    visualization=dict(type='SegVisualizationHook', interval=1),
    # a warning (once per epoch, with a count) when training batches have no valid ground-truth pixel
    empty_target=dict(type='EmptyTargetWarningHook'),
    # stops training at the first NaN/inf loss or weight, before any checkpoint (under --amp: the step is skipped)
    non_finite=dict(type='NonFiniteLossHook'),
)
