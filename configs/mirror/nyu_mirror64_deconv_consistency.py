# Temporal consistency and spatial continuity of nyu_mirror64_deconv (docs/mirror.md):
#   python tools/test.py configs/mirror/nyu_mirror64_deconv_consistency.py CHECKPOINT
# The test set becomes pairs of consecutive frames of NYU sync scenes: list the frames of the scenes to
# evaluate (BTS line format, paths relative to sync/) in data/nyu/nyu_sequences.txt, e.g. with
#   python tools/analysis/make_sequence_split.py nyu data/nyu --scenes SCENE [SCENE ...]
# BTS's sync folder holds a subsample of each video, so neighbours in the list are "consecutive"
# (max_frame_gap=None); set max_frame_gap=1 for true consecutive frames of a full extraction.
_base_ = ['./nyu_mirror64_deconv.py']
test_dataloader = dict(
    batch_size=1,  # pairs per batch (2 frames)
    collate_fn=dict(type='frame_pair_collate'),
    dataset=dict(
        _delete_=True,
        type='DepthFramePairDataset',
        max_frame_gap=None,
        sequences=None,
        dataset=dict(
            type='NYUDepthV2Dataset',
            data_root='data/nyu',
            split='train',  # sync/ layout
            split_file='nyu_sequences.txt',
            test_mode=True,
            pipeline=[
                dict(type='LoadImageFromFileStrict'),
                dict(type='LoadDepthPNG', depth_scale=1000.0),
                dict(type='PackSegInputs',
                     meta_keys=('img_path', 'depth_map_path', 'ori_shape', 'img_shape', 'pad_shape',
                                'scale_factor', 'flip', 'flip_direction', 'focal', 'scene', 'scene_type')),
            ])))
test_evaluator = [
    dict(type='TemporalConsistencyMetric', crop='eigen', min_depth=1e-3, max_depth=10.0),
    dict(type='SpatialContinuityMetric', patch_size=32, crop='eigen', min_depth=1e-3, max_depth=10.0),
]
