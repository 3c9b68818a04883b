"""Export a trained depth model to ONNX and check it with onnxruntime against PyTorch.

    python tools/deployment/export_onnx.py CONFIG [CHECKPOINT] --out model.onnx [--dynamic-shape]
        [--flip-tta | --no-flip-tta] [--images a.jpg b.jpg] [--rtol 1e-4] [--cfg-options k=v]

The text side (bin prompts, learned tokens, mirror conditioning) is computed once and baked in as constants;
the graph is image -> depth in metres with the config's test-time behaviour (flip averaging as the config's
``test_cfg.mode``, or as asked). No CHECKPOINT for a config with nothing learnable (DepthCLIP zero-shot).
The exported model is run on the images (default: the bundled real samples of the config's dataset) by both
backends; the largest relative depth difference is printed, and above ``--rtol`` the export fails (exit 1,
nothing written). Beside ``model.onnx`` goes ``model.json``: input size rule, normalisation, depth range,
config, checkpoint SHA-256 and the measured parity; ``mmclipdepth.apis.OnnxDepthModel`` reads both.
For LLM-MDE only the image side is a fixed graph (LoRA ViT + reprogramming: image -> the tokens its language
model reads); the tool exports that and says what stays in Python (the per-image prompt text, the tokenizer,
the language model and the head).
"""
import argparse
import glob
import os.path as osp
import sys

from mmengine.config import DictAction

import mmclipdepth  # noqa: F401
from mmclipdepth.apis import init_depth_model
from mmclipdepth.apis.onnx_depth_model import ExportError, export_llm_mde_image_tokens, export_onnx

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SAMPLES = dict(nyu=osp.join(REPO, 'tests', 'data', 'nyu', 'official_splits', 'test', '*', 'rgb_*.jpg'),
               kitti=osp.join(REPO, 'tests', 'data', 'kitti', 'raw', '*', '*', 'image_02', 'data', '*.png'))


def default_images(cfg):
    """The bundled samples of the config's dataset (KITTI for a KITTI dataset type, else NYU)."""
    loader = cfg.get('test_dataloader') or {}
    kind = str((loader.get('dataset') or {}).get('type', '')).lower() if isinstance(loader, dict) else ''
    return sorted(glob.glob(SAMPLES['kitti' if 'kitti' in kind else 'nyu']))


def check_output_path(out: str) -> None:
    """Create ``out``'s folder and check that the model and its sidecar can be written there, before exporting."""
    import os
    import tempfile
    if not out.endswith('.onnx'):
        raise ValueError(f'--out {out!r}: the exported model must end in .onnx (its sidecar is the .json beside it)')
    folder = osp.dirname(osp.abspath(out))
    if osp.exists(folder) and not osp.isdir(folder):
        raise ValueError(f'--out {out!r}: {folder!r} is a file, not a folder')
    if osp.isdir(out):
        raise ValueError(f'--out {out!r} is a folder; give a file name such as {osp.join(out, "model.onnx")!r}')
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix='.export_check_'):
            pass
    except OSError as e:
        raise OSError(f'--out {out!r}: cannot write into {folder!r} ({e.strerror or e})') from None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config')
    p.add_argument('checkpoint', nargs='?')
    p.add_argument('--out', required=True)
    p.add_argument('--dynamic-shape', action='store_true', help='dynamic batch, height and width')
    flip = p.add_mutually_exclusive_group()
    flip.add_argument('--flip-tta', dest='flip', action='store_true', default=None)
    flip.add_argument('--no-flip-tta', dest='flip', action='store_false')
    p.add_argument('--images', nargs='+', help='images to check the export on (default: the bundled samples)')
    p.add_argument('--rtol', type=float, default=1e-4)
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = p.parse_args(argv)
    try:  # the output path is made and checked before the (long) export starts
        check_output_path(args.out)
        model = init_depth_model(args.config, args.checkpoint, cfg_options=args.cfg_options)
        images = args.images or default_images(model.cfg)
        missing = [i for i in images if not osp.isfile(i)]
        if missing:
            raise FileNotFoundError(f'image file(s) {missing} do not exist')
        if type(model).__name__ == 'LLMDepthEstimator':  # only its image side is a fixed graph
            meta = export_llm_mde_image_tokens(model, args.out, images, rtol=args.rtol, checkpoint=args.checkpoint)
            print(f'wrote {args.out}: the LLM-MDE image side (image -> reprogrammed tokens '
                  f'{meta["output"]["shape"]}), max relative difference {meta["parity"]["max_rel_diff"]:.3g}')
            print('stays in Python: ' + meta['stays_in_python'])
            return 0
        meta = export_onnx(model, args.out, images, dynamic_shape=args.dynamic_shape, flip_tta=args.flip,
                           checkpoint=args.checkpoint, config_path=args.config, rtol=args.rtol)
    except (ExportError, FileNotFoundError, ValueError, KeyError, OSError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    parity = meta['parity']
    size = meta['input']['size']
    print(f'wrote {args.out} and {osp.splitext(args.out)[0]}.json: {meta["model"]}, input '
          f'{"dynamic" if size is None else f"{size[0]}x{size[1]}"}, flip TTA {meta["flip_tta"]}, '
          f'{meta["text_constants"]} text encoder(s) baked in')
    print(f'onnxruntime vs PyTorch on {len(parity["images"])} image(s): max relative depth difference '
          f'{parity["max_rel_diff"]:.3g} (allowed {parity["rtol"]:g})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
