# NYU Depth v2, BTS layout with the standard split files (docs/fidelity.md "Training", "Evaluation").
# data_root defaults to data/nyu (relative to the working directory); expected tree in
# docs/data_preparation.md. Override e.g. with --cfg-options train_dataloader.dataset.data_root=...
dataset_type = 'NYUDepthV2Dataset'
data_root = 'data/nyu'
min_depth = 1e-3
max_depth = 10.0
depth_scale = 1000.0  # PNG millimetres -> metres

meta_keys = ('img_path', 'depth_map_path', 'ori_shape', 'img_shape', 'pad_shape', 'scale_factor',
             'flip', 'flip_direction', 'focal', 'scene', 'scene_type', 'split_file', 'split_line')

# Train (Auty et al. / AdaBins): border crop (43, 45, 608, 472) -> rotation U(-2.5, 2.5) deg
# (bilinear image, nearest depth) -> random crop 416x544 -> horizontal flip p=0.5 -> with p=0.5
# gamma U(0.9, 1.1), brightness U(0.75, 1.25), per-channel colour U(0.9, 1.1), clip -> normalise
# (the model's data preprocessor).
train_pipeline = [
    dict(type='LoadImageFromFileStrict'),
    dict(type='LoadDepthPNG', depth_scale=depth_scale),
    dict(type='NYUBorderCrop', box=(43, 45, 608, 472)),
    dict(type='RandomDepthRotate', degree=2.5, prob=1.0),
    dict(type='RandomCrop', crop_size=(416, 544)),  # mmseg's (cat_max_ratio=1: plain uniform crop)
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),  # mmseg's: flips seg_fields too
    dict(type='RandomGammaBrightnessColor', prob=0.5, gamma_range=(0.9, 1.1),
         brightness_range=(0.75, 1.25), color_range=(0.9, 1.1)),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
# Test: the full 480x640 frame, no resizing; Eigen crop in the metric.
test_pipeline = [
    dict(type='LoadImageFromFileStrict'),
    dict(type='LoadDepthPNG', depth_scale=depth_scale),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]

train_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    # per-sample augmentation seeds: exact --resume, any num_workers, N processes x b = 1 process x N*b
    sampler=dict(type='PerSampleSeedSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',  # nyudepthv2_train_files_with_gt.txt, relative to sync/
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',  # nyudepthv2_test_files_with_gt.txt (654), relative to official_splits/test/
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

# mmseg's tools/test.py --tta: the test pipeline with the image and its mirror as two views, averaged by
# DepthTTAModel (equals test_cfg.mode='whole_flip' up to float rounding)
tta_model = dict(type='DepthTTAModel')
tta_pipeline = test_pipeline[:-1] + [dict(type='FlipTestTimeAug', meta_keys=meta_keys)]

val_evaluator = dict(type='DepthEvalMetric', crop='eigen', min_depth=min_depth,
                     max_depth=max_depth)
test_evaluator = val_evaluator
