# Offline quickstart (tools/quickstart.sh): Auty et al.'s 'baseline' template with learned-7 depth tokens and
# linear bins (configs/clipdepth/nyu_baseline_learned7.py), trained for 12 iterations on the three bundled
# real NYU frames of tests/data/nyu and validated (DepthEvalMetric, Eigen crop) on the bundled
# official-split-layout frame, with painted predictions.
#
# !!! CLIP IS RANDOMLY INITIALISED HERE (pretrained=None): no weights can be downloaded offline. The run shows
# !!! that everything works end to end; its depth maps and metrics mean nothing. With real weights set
# !!! model.clip.pretrained='openai' (downloaded once into the hub cache) or a local checkpoint path, e.g.
# !!!   --cfg-options model.clip.pretrained=/path/RN50.pt
# and train on the real dataset with
# configs/clipdepth/nyu_baseline_learned7.py (25 epochs, batch 16, 416x544 crops).
_base_ = ['../_base_/models/clipdepth_rn50.py', '../_base_/datasets/nyu_samples.py',
          '../_base_/schedules/auty_25ep.py', '../_base_/default_runtime.py']

clip = dict(model_name='RN50', pretrained=None, arch_cfg=None, cache_dir=None,
            quick_gelu=True)  # OpenAI CLIP's text activation (a mismatch with the weights is an error)
# smaller random crop than the paper's 416x544 (faster on a laptop CPU); multiples of 32 as the data
# preprocessor's size_divisor expects
crop_size = (256, 352)
model = dict(
    clip=clip,
    decode_head=dict(text_encoder=dict(template='baseline', depth_tokens='learned-7'), bins='linear'))

# nyu.py's training pipeline with the smaller random crop
train_pipeline = [
    dict(type='LoadImageFromFileStrict'),
    dict(type='LoadDepthPNG', depth_scale=1000.0),
    dict(type='NYUBorderCrop', box=(43, 45, 608, 472)),
    dict(type='RandomDepthRotate', degree=2.5, prob=1.0),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomGammaBrightnessColor', prob=0.5, gamma_range=(0.9, 1.1),
         brightness_range=(0.75, 1.25), color_range=(0.9, 1.1)),
    dict(type='PackSegInputs', meta_keys={{_base_.meta_keys}}),
]
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))

# Auty et al.'s schedule (configs/_base_/schedules/auty_25ep.py) squeezed into 6 epochs of 2 iterations
# (3 frames, batch 2): the one-cycle schedulers are re-pointed at the shorter run.
max_epochs = 6
param_scheduler = [dict(s, total_steps=max_epochs) for s in _base_.param_scheduler]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=2, log_metric_by_epoch=True),
    checkpoint=dict(type='SafeCheckpointHook', by_epoch=True, interval=max_epochs, max_keep_ckpts=1,
                    save_last=True),
    # painted image + predicted depth of every validation frame under <work_dir>/<timestamp>/vis_data/
    visualization=dict(type='SegVisualizationHook', draw=True, interval=1))
