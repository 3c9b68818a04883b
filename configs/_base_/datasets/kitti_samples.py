# KITTI pipelines of kitti.py on the bundled real samples in tests/data/kitti (raw +
# data_depth_annotated layout; offline quickstart and tests). Eigen-train frames: never report
# numbers on them.
_base_ = ['./kitti.py']

data_root = '{{fileDirname}}/../../../tests/data/kitti'

train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, split='train', split_file='splits/kitti_eigen_samples.txt'))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, split='test', split_file='splits/kitti_eigen_samples.txt'))
test_dataloader = val_dataloader
