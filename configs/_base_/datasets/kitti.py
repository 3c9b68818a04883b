# KITTI Eigen split with the annotated depth maps (docs/fidelity.md "Training", "Evaluation").
# data_root defaults to data/kitti with raw/ (KITTI raw drives) and data_depth_annotated/ (train +
# val merged) inside; expected tree in docs/data_preparation.md. The two folders can live
# anywhere: set dataset.data_prefix=dict(img_path=..., depth_map_path=...) (absolute paths allowed).
dataset_type = 'KITTIEigenDataset'
data_root = 'data/kitti'
data_prefix = dict(img_path='raw', depth_map_path='data_depth_annotated')
min_depth = 1e-3
max_depth = 80.0
depth_scale = 256.0  # PNG value / 256 = metres

meta_keys = ('img_path', 'depth_map_path', 'ori_shape', 'img_shape', 'pad_shape', 'scale_factor',
             'flip', 'flip_direction', 'focal', 'kb_crop', 'split_file', 'split_line')

# Train: KB crop 352x1216 -> rotation U(-1, 1) deg -> random crop 352x704 -> flip p=0.5 -> with
# p=0.5 gamma U(0.9, 1.1), brightness U(0.9, 1.1), colour U(0.9, 1.1), clip -> normalise.
train_pipeline = [
    dict(type='LoadImageFromFileStrict'),
    dict(type='LoadDepthPNG', depth_scale=depth_scale),
    dict(type='KBCrop', height=352, width=1216),
    dict(type='RandomDepthRotate', degree=1.0, prob=1.0),
    dict(type='RandomCrop', crop_size=(352, 704)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomGammaBrightnessColor', prob=0.5, gamma_range=(0.9, 1.1),
         brightness_range=(0.9, 1.1), color_range=(0.9, 1.1)),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
# Test: KB crop to 352x1216 (image and ground truth; ori_shape becomes 352x1216), no resizing;
# Garg crop (fractions of the 352x1216 frame) in the metric.
test_pipeline = [
    dict(type='LoadImageFromFileStrict'),
    dict(type='LoadDepthPNG', depth_scale=depth_scale),
    dict(type='KBCrop', height=352, width=1216),
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
        data_prefix=data_prefix,
        split='train',  # kitti_eigen_train_files_with_gt.txt (23,158)
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=data_prefix,
        split='test',  # kitti_eigen_test_files_with_gt.txt: 697 lines, 652 with ground truth
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

# mmseg's tools/test.py --tta: the test pipeline with the image and its mirror as two views, averaged by
# DepthTTAModel (equals test_cfg.mode='whole_flip' up to float rounding)
tta_model = dict(type='DepthTTAModel')
tta_pipeline = test_pipeline[:-1] + [dict(type='FlipTestTimeAug', meta_keys=meta_keys)]

val_evaluator = dict(type='DepthEvalMetric', crop='garg', min_depth=min_depth,
                     max_depth=max_depth)
test_evaluator = val_evaluator
