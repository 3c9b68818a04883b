"""Check that every file of an NYU Depth v2 or KITTI Eigen split exists and decodes.

    python tools/dataset_converters/check_depth_dataset.py ROOT SPLIT [--dataset nyu|kitti]

ROOT is the dataset root (``data/nyu``: BTS layout; ``data/kitti``: ``raw/`` + ``data_depth_annotated/``,
see docs/data_preparation.md). SPLIT is a split name (NYU: train, test, official_train, depthclip_test;
KITTI: train, test, depthclip_test) or a split file (absolute, relative to ROOT, or a name in the
package's splits folder; its folders are those of ``--layout``). Each sample is loaded exactly as the
training pipelines load it (RGB decodes, 16-bit single-channel depth PNG, same size as the RGB).
With ``--folder``, ROOT is your own folder dataset (``DepthFolderDataset``: ``images/`` and ``depths/`` paired
by stem, docs/own_data.md; SPLIT is then an optional list of stems), checked with ``--depth-scale``: a depth
file without its image (or the reverse) stops the check naming the file; a map with no pixel in
``(--min-depth, --max-depth]`` after scaling is reported as INVALID (a wrong ``--depth-scale``, usually).
Missing and undecodable files (and RGB/depth size mismatches) are printed with their split-file line;
the exit code is 1 if any sample failed, 2 if the dataset itself cannot be set up (missing root, bad
split file).
"""
import argparse
import os.path as osp
import sys

from mmengine.utils import ProgressBar


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Verify that every RGB and depth file of a depth split exists and decodes.')
    parser.add_argument('root', help='dataset root (e.g. data/nyu or data/kitti)')
    parser.add_argument('split', nargs='?', default=None,
                        help='split name (train, test, official_train, depthclip_test) or a split file')
    parser.add_argument('--test-set', default=None,
                        help='a zero-shot test-set config (configs/_base_/datasets/zero_shot/NAME.py): check ROOT '
                        'as that release (docs/zero_shot.md)')
    parser.add_argument('--dataset', choices=['nyu', 'kitti'], default=None,
                        help='dataset kind; default: guessed from the split name (kitti/eigen -> '
                        'kitti, else nyu)')
    parser.add_argument('--layout', default=None,
                        help='for a split file: which split\'s folders it is relative to '
                        '(NYU default: train = sync/ for lines starting with "/", test otherwise; '
                        'KITTI: raw/ + data_depth_annotated/)')
    parser.add_argument('--img-prefix', default=None,
                        help='folder of the RGB paths (absolute or relative to ROOT); overrides '
                        'the layout')
    parser.add_argument('--depth-prefix', default=None,
                        help='folder of the depth paths (absolute or relative to ROOT)')
    own = parser.add_argument_group('your own folder (--folder; docs/own_data.md)')
    own.add_argument('--folder', action='store_true', help='ROOT is a DepthFolderDataset folder')
    own.add_argument('--img-dir', default='images', help='RGB folder under ROOT (default images)')
    own.add_argument('--depth-dir', default='depths', help='depth folder under ROOT (default depths)')
    own.add_argument('--depth-scale', type=float, default=1000.0, help='16-bit PNG units per metre (default 1000)')
    own.add_argument('--min-depth', type=float, default=1e-3)
    own.add_argument('--max-depth', type=float, default=10.0)
    parser.add_argument('--max-errors', type=int, default=50,
                        help='print at most this many failures (all are counted)')
    return parser.parse_args(argv)


def _guess_dataset(split: str) -> str:
    name = osp.basename(split).lower()
    return 'kitti' if ('kitti' in name or 'eigen' in name) else 'nyu'


def _first_line_starts_with_slash(path: str) -> bool:
    with open(path, encoding='utf-8') as f:
        for line in f:
            if line.strip():
                return line.lstrip().startswith('/')
    return False


def build_dataset(args):
    """The dataset object (no pipeline) for ROOT and SPLIT (or ROOT as the release of ``--test-set``)."""
    import mmclipdepth  # noqa: F401  (registers the components)
    if args.folder:
        from mmclipdepth.datasets import DepthFolderDataset
        return DepthFolderDataset(data_root=args.root, img_dir=args.img_dir, depth_dir=args.depth_dir,
                                  depth_scale=args.depth_scale, split_file=args.split, min_depth=args.min_depth,
                                  max_depth=args.max_depth, pipeline=[], serialize_data=False)
    if args.test_set:
        from mmengine.config import Config
        from mmseg.registry import DATASETS
        spec = Config.fromfile(args.test_set).test_dataloader.dataset.to_dict()
        spec.update(data_root=args.root, pipeline=[], serialize_data=False)
        if args.split:
            spec['split_file'] = args.split
        return DATASETS.build(spec)
    if args.split is None:
        raise ValueError('give SPLIT (or --test-set for a zero-shot test set)')
    from mmclipdepth.datasets import KITTIEigenDataset, NYUDepthV2Dataset, resolve_split_file

    kind = args.dataset or _guess_dataset(args.split)
    cls = KITTIEigenDataset if kind == 'kitti' else NYUDepthV2Dataset
    kwargs = dict(data_root=args.root, pipeline=[], serialize_data=False)
    if args.split in cls.SPLITS:
        kwargs['split'] = args.split
    else:
        kwargs['split_file'] = args.split
        layout = args.layout
        if layout is None:
            if kind == 'nyu':
                path = resolve_split_file(args.split, args.root)
                layout = 'train' if _first_line_starts_with_slash(path) else 'test'
            else:
                layout = 'test'
        kwargs['split'] = layout
    if args.img_prefix is not None or args.depth_prefix is not None:
        _, img_prefix, depth_prefix = cls.SPLITS[kwargs['split']]
        kwargs['data_prefix'] = dict(
            img_path=args.img_prefix if args.img_prefix is not None else img_prefix,
            depth_map_path=args.depth_prefix if args.depth_prefix is not None else depth_prefix)
    return cls(**kwargs)


def _strict_folder_depth():
    """LoadFolderDepth whose "no pixel in the evaluation range" warning is an error (reported as INVALID)."""
    import warnings

    from mmclipdepth.datasets.transforms import LoadFolderDepth
    load = LoadFolderDepth(check_size=False)

    def run(results):
        with warnings.catch_warnings():
            warnings.simplefilter('error', UserWarning)
            try:
                return load(results)
            except UserWarning as w:
                raise ValueError(str(w)) from None
    return run


def check_sample(info: dict, load_img, load_depth) -> list:
    """``[(kind, message), ...]`` for one sample: RGB and depth are checked independently (both
    missing files are reported), then their sizes are compared."""
    problems = []
    loaded = []
    for load in (load_img, load_depth):
        results = dict(info)
        results['seg_fields'] = list(info.get('seg_fields', []))
        try:
            loaded.append(load(results))
        except FileNotFoundError as e:
            problems.append(('MISSING', str(e)))
        except (ValueError, KeyError, OSError) as e:
            problems.append(('INVALID' if 'evaluation range' in str(e) else 'UNDECODABLE', str(e)))
    if not problems:
        img_hw = loaded[0]['img'].shape[:2]
        depth_hw = loaded[1]['gt_depth_map'].shape
        if img_hw != depth_hw:
            problems.append(('INCONSISTENT', f'depth map is {depth_hw[0]}x{depth_hw[1]} but its '
                             f'image is {img_hw[0]}x{img_hw[1]}: {info["depth_map_path"]!r} '
                             f'(split file {info.get("split_file")!r}, line '
                             f'{info.get("split_line")})'))
    return problems


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        dataset = build_dataset(args)
    except (FileNotFoundError, ValueError, TypeError) as e:
        print(f'ERROR: {e}', file=sys.stderr)
        return 2
    from mmclipdepth.datasets.transforms import LoadDepthPNG, LoadImageFromFileStrict, LoadReleaseDepth
    load_img = LoadImageFromFileStrict()
    n = len(dataset)
    if args.folder:
        load_depth = _strict_folder_depth()
        print(f'DepthFolderDataset: {n} samples under {dataset.img_dir} and {dataset.depth_dir} '
              f'(depth_scale {dataset.depth_scale}, range ({dataset.min_depth}, {dataset.max_depth}] m)')
    elif args.test_set:
        load_depth = LoadReleaseDepth(check_size=False)  # the release's encoding (depth_format of the sample)
        print(f'{type(dataset).__name__}: {n} samples under {dataset.data_root} '
              f'({"split file " + dataset.split_file if dataset.split_file else "the release layout"})')
    else:
        load_depth = LoadDepthPNG()  # depth_scale from the sample (1000 NYU, 256 KITTI)
        print(f'{type(dataset).__name__}: {n} samples from {dataset.split_file} '
              f'(RGB under {dataset.data_prefix["img_path"]}, depth under '
              f'{dataset.data_prefix["depth_map_path"]}; {dataset.num_skipped_no_gt} lines with GT None '
              f'skipped)')
    failures = []
    bad_samples = 0
    bar = ProgressBar(n, file=sys.stdout)
    for i in range(n):
        problems = check_sample(dataset.get_data_info(i), load_img, load_depth)
        failures.extend(problems)
        bad_samples += bool(problems)
        bar.update()
    print()
    if not failures:
        print(f'OK: all {n} samples exist and decode.')
        return 0
    missing = sum(1 for kind, _ in failures if kind == 'MISSING')
    for kind, msg in failures[:args.max_errors]:
        print(f'{kind}: {msg}')
    if len(failures) > args.max_errors:
        print(f'... and {len(failures) - args.max_errors} more')
    print(f'FAILED: {bad_samples} of {n} samples ({missing} missing files, '
          f'{len(failures) - missing} undecodable, inconsistent or invalid).')
    return 1


if __name__ == '__main__':
    sys.exit(main())
