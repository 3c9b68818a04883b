# NYU pipelines of nyu.py on the bundled real samples in tests/data/nyu (BTS layout; offline
# quickstart and tests). Not test-split frames: never report numbers on them.
_base_ = ['./nyu.py']

data_root = '{{fileDirname}}/../../../tests/data/nyu'

train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, split='train', split_file='splits/nyu_train_samples.txt'))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, split='test', split_file='splits/nyu_test_samples.txt'))
test_dataloader = val_dataloader
