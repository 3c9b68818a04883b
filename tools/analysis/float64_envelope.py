"""How far each float32 training step is from the authors' step in float64 (exact maths): learned-token gradients.

For each config: its model with random CLIP weights rounded to fp16 (as OpenAI's checkpoints are stored), train
mode (BatchNorm uses batch statistics, as the authors run it), and a batch of one bundled frame and its mirror
(tests/data, resized to --size). Reported, as ``||g - g64|| / ||g64||`` over all learned tokens, for the
authors' float32 step and the package's NCHW, channels-last (exact BatchNorm statistics) and channels-last with
torch's native NHWC statistics paths (``benchmarks.equivalence.float64_envelope``).

256 prompts x 77 positions with autograd through the text tower take ~12 GB in float32 and twice that in float64:
``--text-chunk 16`` runs the authors' step (both precisions) with the text tower 16 prompts at a time
(``reference_backward_chunked``: the same operations rearranged, a few GB), and ``--mem-limit-gb`` caps the
process's address space (``RLIMIT_AS``) so that a run that does not fit fails with an error instead of taking a
shared machine down.

    python tools/analysis/float64_envelope.py configs/clipdepth/nyu_baseline_learned7.py --size 416 544
    python tools/analysis/float64_envelope.py configs/clipdepth/nyu_baseline_learned256_log.py --size 416 544 \
        --text-chunk 16 --mem-limit-gb 12
    python tools/analysis/float64_envelope.py configs/clipdepth/kitti_baseline_learned256_log.py --size 352 1216 \
        --text-chunk 16 --mem-limit-gb 12
"""
import argparse
import gc
import json
import os.path as osp
import sys
import time

import numpy as np
import torch
from PIL import Image

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
#: one bundled frame per dataset: RGB, depth PNG and the PNG's units per metre
FRAMES = {
    'nyu': ('tests/data/nyu/official_splits/train/bookstore/rgb_00001.jpg',
            'tests/data/nyu/official_splits/train/bookstore/sync_depth_00001.png', 1000.0),
    'kitti': ('tests/data/kitti/raw/2011_09_26/2011_09_26_drive_0001_sync/image_02/data/0000000005.png',
              'tests/data/kitti/data_depth_annotated/2011_09_26_drive_0001_sync/proj_depth/groundtruth/image_02/'
              '0000000005.png', 256.0),
}
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def frame_and_mirror(dataset: str, size):
    """(2, 3, H, W) CLIP-normalised inputs and data samples (frame, horizontal mirror), resized to ``size``."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    rgb_path, depth_path, scale = FRAMES[dataset]
    h, w = size
    rgb = Image.open(osp.join(REPO, rgb_path)).convert('RGB').resize((w, h), Image.BILINEAR)
    depth = Image.open(osp.join(REPO, depth_path)).resize((w, h), Image.NEAREST)
    x = torch.from_numpy(np.asarray(rgb, dtype=np.float32) / 255.0).permute(2, 0, 1)
    x = (x - torch.tensor(CLIP_MEAN).view(3, 1, 1)) / torch.tensor(CLIP_STD).view(3, 1, 1)
    d = torch.from_numpy(np.asarray(depth, dtype=np.float32) / scale)[None]
    inputs = torch.stack([x, x.flip(-1)])
    samples = []
    for dm in (d, d.flip(-1)):
        s = SegDataSample()
        s.set_metainfo(dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w), flip=False,
                            padding_size=[0, 0, 0, 0]))
        s.gt_depth_map = PixelData(data=dm.clone())
        samples.append(s)
    return inputs, samples


def _peak_rss_gb():
    """Peak resident memory of this process so far (GB)."""
    import resource
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20, 2)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('configs', nargs='+')
    p.add_argument('--size', type=int, nargs=2, default=[416, 544], metavar=('H', 'W'))
    p.add_argument('--text-chunk', type=int, default=None, metavar='N',
                   help="run the authors' step with the text tower N prompts at a time (memory; same operations)")
    p.add_argument('--no-ours-float64', action='store_true', help="skip the package's float64 step")
    p.add_argument('--mem-limit-gb', type=float, default=None,
                   help='cap the address space of this process (RLIMIT_AS): an allocation beyond it fails')
    p.add_argument('--out', default=None, help='also write the JSON here')
    args = p.parse_args()
    if args.text_chunk is not None and args.text_chunk < 1:
        p.error(f'--text-chunk must be a positive number of prompts, got {args.text_chunk}')
    if args.mem_limit_gb:
        import resource
        limit = int(args.mem_limit_gb * 2 ** 30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    sys.path.insert(0, REPO)  # benchmarks/ (development code at the repository root, not installed)
    from benchmarks.equivalence import build_model, float64_envelope, prepare_model_cfg
    from benchmarks.runner import load_model_cfg
    rows = {}
    for config in args.configs:
        model = build_model(prepare_model_cfg(load_model_cfg(config)))
        with torch.no_grad():
            for prm in model.backbone.visual.parameters():
                prm.copy_(prm.half().float())
        dataset = 'kitti' if 'kitti' in osp.basename(config) else 'nyu'
        inputs, samples = frame_and_mirror(dataset, args.size)
        t = time.perf_counter()
        try:
            r = float64_envelope(model, inputs, samples, text_chunk=args.text_chunk,
                                 ours_float64=not args.no_ours_float64, log=lambda m: print(m, flush=True))
        except (MemoryError, RuntimeError) as e:  # an allocation refused under --mem-limit-gb
            rows[config] = dict(error=f'{type(e).__name__}: {str(e)[:300]}')
            print(f'{osp.basename(config)} {args.size[0]}x{args.size[1]}: FAILED {rows[config]["error"]}', flush=True)
            continue
        finally:
            del model
            gc.collect()
        rows[config] = dict(r, seconds=round(time.perf_counter() - t), peak_rss_gb=_peak_rss_gb())
        print(f'{osp.basename(config)} {args.size[0]}x{args.size[1]}: '
              + ', '.join(f'{k} {v:.3g}' for k, v in r.items())
              + f"; channels-last / authors = {r['ours_channels_last'] / r['authors_float32']:.2f}"
              + f"; {rows[config]['seconds']} s, peak RSS {rows[config]['peak_rss_gb']} GB", flush=True)
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(size=args.size, threads=torch.get_num_threads(), text_chunk=args.text_chunk,
                           mem_limit_gb=args.mem_limit_gb, torch=torch.__version__, rows=rows), f, indent=1)
    if any('error' in r for r in rows.values()):
        sys.exit(1)


if __name__ == '__main__':
    main()
