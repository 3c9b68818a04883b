# Your own RGB-D data (docs/own_data.md): DepthFolderDataset pairs <data_root>/images/<stem>.jpg|png with
# <data_root>/depths/<stem>.png (16-bit, depth_scale units per metre) or <stem>.npy (metres).
# Check the folder first: python tools/dataset_converters/check_depth_dataset.py DATA_ROOT --folder --depth-scale 1000
dataset_type = 'DepthFolderDataset'
data_root = 'data/my_depth'
depth_scale = 1000.0  # PNG units per metre: 1000 = millimetres, 256 = KITTI, ignored for .npy
min_depth = 1e-3
max_depth = 10.0  # the evaluation range (and the model's bins: set decode_head.max_depth to match)
crop_size = (416, 544)  # training crop; multiples of 32 (the data preprocessor's size_divisor)

meta_keys = ('img_path', 'depth_map_path', 'ori_shape', 'img_shape', 'pad_shape', 'scale_factor', 'flip',
             'flip_direction', 'focal', 'intrinsics', 'stem', 'split_file', 'split_line')
train_pipeline = [
    dict(type='LoadImageFromFileStrict'),
    dict(type='LoadFolderDepth'),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
test_pipeline = [
    dict(type='LoadImageFromFileStrict'),
    dict(type='LoadFolderDepth'),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
common = dict(type=dataset_type, data_root=data_root, img_dir='images', depth_dir='depths', depth_scale=depth_scale,
              min_depth=min_depth, max_depth=max_depth)
train_dataloader = dict(
    batch_size=8, num_workers=2, persistent_workers=True,
    sampler=dict(type='PerSampleSeedSampler', shuffle=True),
    dataset=dict(**common, split_file='train.txt', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(**common, split_file='test.txt', test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
# no dataset-specific crop: the whole frame within (min_depth, max_depth]
val_evaluator = dict(type='DepthEvalMetric', min_depth=min_depth, max_depth=max_depth, crop='none')
test_evaluator = val_evaluator
