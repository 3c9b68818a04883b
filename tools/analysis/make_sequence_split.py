"""Write a split file that lists whole frame sequences, for the temporal-consistency evaluation.

    python tools/analysis/make_sequence_split.py kitti data/kitti [--drives-from SPLIT] [--out FILE]
    python tools/analysis/make_sequence_split.py nyu data/nyu --scenes kitchen_0028b ... [--out FILE]

KITTI: every frame with annotated ground truth (``data_depth_annotated/<drive>/proj_depth/groundtruth/
<camera>/``) and an RGB image (``raw/<date>/<drive>/<camera>/data/``) of each drive named in
``--drives-from`` (default: the Eigen test list, 28 drives); written to
``ROOT/kitti_eigen_test_sequences.txt``. NYU: every ``rgb_*.jpg`` with its ``sync_depth_*.png`` of each
scene folder under ``ROOT/sync/``; written to ``ROOT/nyu_sequences.txt``. Lines use the BTS format
(RGB, GT, focal) read by ``NYUDepthV2Dataset`` / ``KITTIEigenDataset`` and paired by
``DepthFramePairDataset`` (configs/mirror/*_consistency.py).
"""
import argparse
import glob
import os.path as osp
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='List whole frame sequences in a BTS-format split file.')
    parser.add_argument('dataset', choices=['kitti', 'nyu'])
    parser.add_argument('root', help='dataset root (data/kitti with raw/ + data_depth_annotated/, or data/nyu)')
    parser.add_argument('--drives-from', default='kitti_eigen_test_files_with_gt.txt',
                        help='KITTI: split file whose drives are listed (absolute, relative to ROOT, or a '
                        'name in the package splits folder)')
    parser.add_argument('--camera', default='image_02', help='KITTI camera folder')
    parser.add_argument('--img-prefix', default='raw', help='KITTI raw-data folder under ROOT')
    parser.add_argument('--depth-prefix', default='data_depth_annotated', help='KITTI ground-truth folder')
    parser.add_argument('--scenes', nargs='+', default=None, help='NYU: scene folders under ROOT/sync/')
    parser.add_argument('--out', default=None, help='output split file')
    return parser.parse_args(argv)


def kitti_lines(args):
    from mmclipdepth.datasets import resolve_split_file
    from mmclipdepth.datasets.kitti_eigen import KITTI_FOCAL_BY_DATE
    split = resolve_split_file(args.drives_from, args.root)
    drives = []
    with open(split, encoding='utf-8') as f:
        for line in f:
            cols = line.split()
            if cols:
                date_drive = '/'.join(cols[0].lstrip('/').split('/')[:2])  # 2011_09_26/2011_09_26_drive_0002_sync
                if date_drive not in drives:
                    drives.append(date_drive)
    lines, missing = [], []
    for date_drive in drives:
        date, drive = date_drive.split('/')
        gt_dir = osp.join(args.root, args.depth_prefix, drive, 'proj_depth', 'groundtruth', args.camera)
        gts = sorted(glob.glob(osp.join(gt_dir, '*.png')))
        if not gts:
            missing.append(gt_dir)
        for gt in gts:
            name = osp.basename(gt)
            rgb = f'{date}/{drive}/{args.camera}/data/{name}'
            if osp.isfile(osp.join(args.root, args.img_prefix, rgb)):
                lines.append(f'{rgb} {drive}/proj_depth/groundtruth/{args.camera}/{name} '
                             f'{KITTI_FOCAL_BY_DATE.get(date, 721.5377)}')
    return lines, missing, 'kitti_eigen_test_sequences.txt'


def nyu_lines(args):
    if not args.scenes:
        raise SystemExit('nyu: give --scenes (folders under ROOT/sync/)')
    lines, missing = [], []
    for scene in args.scenes:
        rgbs = sorted(glob.glob(osp.join(args.root, 'sync', scene, 'rgb_*.jpg')))
        if not rgbs:
            missing.append(osp.join(args.root, 'sync', scene))
        for rgb in rgbs:
            depth = osp.basename(rgb).replace('rgb_', 'sync_depth_').replace('.jpg', '.png')
            if osp.isfile(osp.join(osp.dirname(rgb), depth)):
                lines.append(f'/{scene}/{osp.basename(rgb)} /{scene}/{depth} 518.8579')
    return lines, missing, 'nyu_sequences.txt'


def main(argv=None) -> int:
    args = parse_args(argv)
    lines, missing, default_name = (kitti_lines if args.dataset == 'kitti' else nyu_lines)(args)
    for m in missing:
        print(f'warning: no frames in {m}', file=sys.stderr)
    if not lines:
        print('error: no frame with both RGB and ground truth found', file=sys.stderr)
        return 1
    out = args.out or osp.join(args.root, default_name)
    with open(out, 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines) + '\n')
    print(f'wrote {len(lines)} frames to {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
