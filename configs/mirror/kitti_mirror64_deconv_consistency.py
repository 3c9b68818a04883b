# Temporal consistency and spatial continuity of kitti_mirror64_deconv (docs/mirror.md):
#   python tools/test.py configs/mirror/kitti_mirror64_deconv_consistency.py CHECKPOINT
# The test set becomes pairs of consecutive frames (gap 1, 0.1 s) of the 28 Eigen-test drives: list every
# annotated frame of those drives in data/kitti/kitti_eigen_test_sequences.txt with
#   python tools/analysis/make_sequence_split.py kitti data/kitti
# (or point split_file at any BTS-format list of whole drives).
_base_ = ['./kitti_mirror64_deconv.py']
test_dataloader = dict(
    batch_size=1,  # pairs per batch (2 frames)
    collate_fn=dict(type='frame_pair_collate'),
    dataset=dict(
        _delete_=True,
        type='DepthFramePairDataset',
        max_frame_gap=1,
        sequences=None,
        dataset=dict(
            type='KITTIEigenDataset',
            data_root='data/kitti',
            data_prefix=dict(img_path='raw', depth_map_path='data_depth_annotated'),
            split='test',
            split_file='kitti_eigen_test_sequences.txt',
            test_mode=True,
            pipeline=[
                dict(type='LoadImageFromFileStrict'),
                dict(type='LoadDepthPNG', depth_scale=256.0),
                dict(type='KBCrop', height=352, width=1216),
                dict(type='PackSegInputs',
                     meta_keys=('img_path', 'depth_map_path', 'ori_shape', 'img_shape', 'pad_shape',
                                'scale_factor', 'flip', 'flip_direction', 'focal', 'kb_crop')),
            ])))
test_evaluator = [
    dict(type='TemporalConsistencyMetric', crop='garg', min_depth=1e-3, max_depth=80.0),
    dict(type='SpatialContinuityMetric', patch_size=32, crop='garg', min_depth=1e-3, max_depth=80.0),
]
