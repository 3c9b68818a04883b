"""A web demo (Gradio): upload an image or pick a bundled sample, see its depth, download the results.

    pip install -e .[demo]
    python demo/web_demo.py [--config CONFIG [--checkpoint CKPT] | --model MODEL.onnx] [--host 127.0.0.1]
        [--port 7860] [--max-side 4096] [--max-pixels N] [--max-file-size 25mb] [--model-cache 2] [--local-paths]
        [--cfg-options KEY=VALUE ...]

The page offers only the models given on the command line (or every config in configs/ with nothing to train,
e.g. DepthCLIP zero-shot, when none is given): a visitor picks one, and cannot name a file on the server
(``--local-paths`` adds free model / checkpoint paths for local experiments, on a loopback host only). It takes
an image upload (decoded as an image and nothing else, its pixel count checked from the header first, at most
``--max-file-size``) and the bundled NYU / KITTI samples (docs/security.md). It shows the depth coloured with a colour bar in metres and an interactive
3D point cloud (focal length in pixels from the form; principal point at the image centre) and offers the
16-bit PNG (millimetres), the ``.npy`` (float32 metres) and the ``.ply`` (coloured points) for download.
An upload that is not an image, is smaller than the model takes or larger than ``--max-side`` gets a
message in the page.
"""
import argparse
import glob
import os
import os.path as osp
import sys
import tempfile
import time

import numpy as np

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
SAMPLES = sorted(glob.glob(osp.join(REPO, 'tests', 'data', 'nyu', 'official_splits', 'test', '*', 'rgb_*.jpg'))
                 + glob.glob(osp.join(REPO, 'tests', 'data', 'kitti', 'raw', '*', '*', 'image_02', 'data',
                                      '0000000005.png')))
#: default focal lengths (pixels) by dataset, for the point cloud: NYU's Kinect, KITTI's left colour camera
FOCAL = dict(nyu=518.8579, kitti=721.5377)


class DemoError(ValueError):
    """A problem with the user's input, shown in the page."""


#: the one message for any problem with a server-side file (model, checkpoint): no path, no hint of which exist
SERVER_FILE_PROBLEM = 'the server could not load this model (see the server log)'
LOOPBACK = ('127.0.0.1', 'localhost', '::1')


def zero_shot_configs():
    """Configs under configs/ whose models have nothing to train (they run without a checkpoint)."""
    out = []
    for path in sorted(glob.glob(osp.join(REPO, 'configs', 'clipdepth', '*zeroshot*.py'))):
        out.append(osp.relpath(path, REPO))
    return out


def _norm(path: str) -> str:
    path = osp.expanduser(str(path).strip())
    return osp.realpath(path if osp.isabs(path) or osp.exists(path) else osp.join(REPO, path))


class DepthService:
    """Loads the operator's models on demand (a bounded cache) and turns one image file into the outputs.

    Args:
        choices: what the page offers: a list of configs / ``.onnx`` files, or a dict label -> (model, checkpoint).
            A visitor picks one by its label; nothing else is ever loaded, unless ``local_paths``.
        local_paths: take any model / checkpoint path typed in the page (``--local-paths``: loopback only).
        max_pixels: the upload's pixel limit, read from its header before decoding
            (``mmclipdepth.fileio.image_decoder``).
        cache_size: models kept loaded (least recently used dropped), keyed by the normalised choice.
        cfg_options: the operator's ``--cfg-options``, merged into every config (not ``.onnx``) loaded.
        keep_outputs: request output folders kept on disk; older ones are removed.
    """

    def __init__(self, max_side: int = 4096, out_root=None, choices=None, local_paths: bool = False,
                 max_pixels=None, cache_size: int = 2, keep_outputs: int = 4, cfg_options=None):
        from collections import OrderedDict
        self.max_side = int(max_side)
        self.out_root = out_root or tempfile.mkdtemp(prefix='mmclipdepth_demo_')
        os.makedirs(self.out_root, exist_ok=True)
        if isinstance(choices, dict):
            self.choices = {str(k): (v[0], v[1]) for k, v in choices.items()}
        else:
            self.choices = {str(c): (str(c), None) for c in (choices or [])}
        self.local_paths = bool(local_paths)
        self.max_pixels = max_pixels
        self.cache_size = max(1, int(cache_size))
        self.keep_outputs = max(1, int(keep_outputs))
        self.cfg_options = dict(cfg_options or {})
        self._models = OrderedDict()
        self._outputs = []

    def resolve(self, choice, checkpoint=None):
        """The (model path, checkpoint) a visitor's choice names; refuses anything the operator did not offer."""
        choice = (choice or '').strip() if isinstance(choice, str) else choice
        checkpoint = (checkpoint or '').strip() or None
        if not choice:
            raise DemoError('choose a model')
        if choice in self.choices:
            spec, ckpt = self.choices[choice]
            if checkpoint is not None and not self.local_paths:
                raise DemoError('this server takes no checkpoint paths: choose one of the offered models')
            return _norm(spec), (_norm(checkpoint or ckpt) if (checkpoint or ckpt) else None)
        if not self.local_paths:
            raise DemoError('choose one of the offered models')
        return _norm(choice), (_norm(checkpoint) if checkpoint else None)

    def model(self, spec: str, checkpoint=None):
        from mmclipdepth.apis import load_depth_model
        key = self.resolve(spec, checkpoint)
        if key in self._models:
            self._models.move_to_end(key)
            return self._models[key]
        path, ckpt = key
        try:
            if not osp.isfile(path) or (ckpt is not None and not osp.isfile(ckpt)):
                raise FileNotFoundError(f'{path} / {ckpt}: no such file')
            model = load_depth_model(path, ckpt, **({} if path.endswith('.onnx') or not self.cfg_options else
                                                   dict(cfg_options=self.cfg_options)))
        except Exception as e:  # noqa: BLE001 - the visitor gets one message; the operator the cause
            print(f'web_demo: could not load {path} (checkpoint {ckpt}): {type(e).__name__}: {e}', file=sys.stderr)
            raise DemoError(SERVER_FILE_PROBLEM) from None
        while len(self._models) >= self.cache_size:
            self._models.popitem(last=False)
        self._models[key] = model
        return model

    def read(self, image_path) -> np.ndarray:
        from mmclipdepth.fileio.image_decoder import ImageDecodeError, check_image_header, decode_image
        if not image_path:
            raise DemoError('upload an image or pick a sample')
        name = osp.basename(str(image_path))
        with open(str(image_path), 'rb') as f:
            data = f.read()
        try:
            header = check_image_header(data, name, self.max_pixels)
            if header is not None and max(header[:2]) > self.max_side:
                raise DemoError(f'the image is {header[0]}x{header[1]} px; this demo takes at most '
                                f'{self.max_side} px per side')
            img = decode_image(data, name, self.max_pixels)
        except ImageDecodeError as e:
            raise DemoError(str(e)) from None
        h, w = img.shape[:2]
        if max(h, w) > self.max_side:
            raise DemoError(f'the image is {w}x{h} px; this demo takes at most {self.max_side} px per side')
        return img

    def _output_dir(self) -> str:
        import shutil
        out = tempfile.mkdtemp(dir=self.out_root)
        self._outputs.append(out)
        while len(self._outputs) > self.keep_outputs:  # Gradio has served (copied) the older ones
            shutil.rmtree(self._outputs.pop(0), ignore_errors=True)
        return out

    def predict(self, spec, checkpoint, image_path, focal, progress=lambda *a, **k: None) -> dict:
        from mmclipdepth.apis import (backproject_depth, depth_to_png16, image_for_prediction, inference_depth,
                                      render_depth_colorbar, write_glb_points, write_ply)
        import cv2
        progress(0.05, desc='reading the image')
        img = self.read(image_path)
        progress(0.15, desc='loading the model')
        model = self.model(spec, checkpoint)
        need = int(getattr(model, 'min_input_size', 1) or 1)  # the estimators' and OnnxDepthModel's
        if min(img.shape[:2]) < need:
            raise DemoError(f'the image is {img.shape[1]}x{img.shape[0]} px; this model needs at least '
                            f'{need} px per side')
        progress(0.3, desc='predicting depth')
        start = time.perf_counter()
        try:
            sample = inference_depth(model, img, return_samples=True)
        except ValueError as e:
            raise DemoError(str(e)) from e
        seconds = time.perf_counter() - start
        depth = sample.pred_depth_map.data[0].detach().cpu().numpy().astype(np.float32)
        progress(0.7, desc='writing the outputs')
        out = self._output_dir()
        stem = osp.splitext(osp.basename(str(image_path)))[0]
        files = dict(png16=osp.join(out, f'{stem}_depth_mm.png'), npy=osp.join(out, f'{stem}_depth.npy'),
                     ply=osp.join(out, f'{stem}.ply'), glb=osp.join(out, f'{stem}_points.glb'))
        png, _ = depth_to_png16(depth, 1000.0)
        cv2.imwrite(files['png16'], png)
        np.save(files['npy'], depth)
        rgb = image_for_prediction(img[..., ::-1], depth.shape, sample.metainfo.get('kb_crop'), resize=True)
        h, w = depth.shape
        intr = (float(focal), float(focal), (w - 1) / 2.0, (h - 1) / 2.0)
        points, index = backproject_depth(depth, intr)
        colors = rgb.reshape(-1, 3)[index]
        write_ply(files['ply'], points, colors)
        keep = slice(None, None, max(1, len(points) // 60000))  # a light 3D view; the PLY has every point
        write_glb_points(files['glb'], points[keep], colors[keep])
        progress(1.0, desc='done')
        valid = depth[np.isfinite(depth)]
        return dict(colour=render_depth_colorbar(depth), depth=depth, files=files, seconds=seconds,
                    summary=f'{w}x{h} px, depth {valid.min():.2f}-{valid.max():.2f} m, {seconds:.2f} s')


def build_demo(models, service: DepthService, checkpoint_default: str = ''):
    """The page. ``models``: the labels offered (``service.choices`` when empty); a free model text and a
    checkpoint box exist only when the service takes local paths (``--local-paths``)."""
    import gradio as gr
    models = list(models or service.choices)
    if not service.choices:
        service.choices = {str(m): (str(m), None) for m in models}

    def run(spec, checkpoint, image, focal, progress=gr.Progress()):
        try:
            r = service.predict(spec, checkpoint, image, focal, progress)
        except DemoError as e:
            raise gr.Error(str(e), duration=None, print_exception=False) from None  # stays until closed
        except Exception as e:  # noqa: BLE001 - anything else: one message in the page, the trace in the server log
            print(f'web_demo: {type(e).__name__}: {e}', file=sys.stderr)
            raise gr.Error('depth estimation failed (see the server log)', duration=None) from e
        f = r['files']
        return r['colour'], f['glb'], f['png16'], f['npy'], f['ply'], r['summary']

    # outputs Gradio copied into its cache are removed an hour after they were written (checked every 10 min)
    with gr.Blocks(title='mmclipdepth depth demo', delete_cache=(600, 3600)) as demo:
        gr.Markdown('# mmclipdepth: monocular depth from a frozen CLIP\nUpload an image or pick a sample.')
        with gr.Row():
            with gr.Column():
                model = gr.Dropdown(models, value=models[0] if models else None, elem_id='model',
                                    label='model' + (' (a config or .onnx path on this machine)'
                                                     if service.local_paths else ''),
                                    allow_custom_value=service.local_paths)
                checkpoint = gr.Textbox(value=checkpoint_default or '', elem_id='checkpoint',
                                        label='checkpoint (path on this machine; empty for zero-shot and .onnx)',
                                        visible=service.local_paths)
                image = gr.File(label='image', file_types=['image'], type='filepath', elem_id='image')
                focal = gr.Number(value=FOCAL['nyu'], label='focal length (px), for the point cloud',
                                  elem_id='focal')
                button = gr.Button('Estimate depth', variant='primary', elem_id='run')
                gr.Examples([[s] for s in SAMPLES], inputs=[image], label='bundled samples')
            with gr.Column():
                colour = gr.Image(label='depth (m)', type='numpy', elem_id='depth', format='png')
                summary = gr.Markdown(elem_id='summary')
                cloud = gr.Model3D(label='point cloud', display_mode='point_cloud', elem_id='cloud')
                png16 = gr.File(label='16-bit PNG (millimetres)', elem_id='png16')
                npy = gr.File(label='depth .npy (float32 metres)', elem_id='npy')
                ply = gr.File(label='point cloud .ply', elem_id='ply')
        button.click(run, inputs=[model, checkpoint, image, focal], outputs=[colour, cloud, png16, npy, ply, summary])
    return demo


def main(argv=None):
    from mmengine.config import DictAction
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    src = p.add_mutually_exclusive_group()
    src.add_argument('--config', action='append', default=[], help='a config to offer (repeatable)')
    src.add_argument('--model', action='append', default=[], help='an exported MODEL.onnx to offer (repeatable)')
    p.add_argument('--checkpoint', default=None, help='checkpoint of the (first) --config')
    p.add_argument('--host', default='127.0.0.1')
    p.add_argument('--port', type=int, default=7860)
    p.add_argument('--max-side', type=int, default=4096)
    p.add_argument('--max-pixels', type=int, default=None,
                   help='pixel limit of an upload, read from its header before decoding (default: '
                        'mmclipdepth.fileio.DEFAULT_MAX_PIXELS or MMCLIPDEPTH_MAX_PIXELS)')
    p.add_argument('--max-file-size', default='25mb', help="upload size limit (Gradio's max_file_size)")
    p.add_argument('--model-cache', type=int, default=2, help='models kept loaded at once')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default=None,
                   help="overrides merged into every offered config, e.g. model.clip.pretrained=/path/RN50.pt "
                        "(offline with a local CLIP file)")
    p.add_argument('--local-paths', action='store_true',
                   help='let the page name any model / checkpoint path on this machine (local experiments; '
                        'refused unless --host is loopback: a page visitor could otherwise run code here)')
    args = p.parse_args(argv)
    if args.cfg_options and args.model:
        p.error('--cfg-options applies to configs; an exported --model takes none')
    if args.local_paths and args.host not in LOOPBACK:
        p.error(f'--local-paths lets a page visitor load (and so run) any file on this machine: it is only '
                f'served on loopback ({", ".join(LOOPBACK)}), not --host {args.host}')
    try:
        import gradio  # noqa: F401
    except ImportError:
        sys.exit('error: the web demo needs Gradio: pip install -e .[demo]')
    if args.config:
        choices = {c: (c, args.checkpoint if i == 0 else None) for i, c in enumerate(args.config)}
    else:
        choices = {m: (m, None) for m in (args.model or zero_shot_configs())}
    service = DepthService(args.max_side, choices=choices, local_paths=args.local_paths, max_pixels=args.max_pixels,
                           cache_size=args.model_cache, cfg_options=args.cfg_options)
    demo = build_demo(list(choices), service)
    if args.checkpoint and args.config:
        try:
            service.model(args.config[0])  # loaded (and checked) before the page opens
        except DemoError:
            from mmclipdepth.apis import load_depth_model
            load_depth_model(args.config[0], args.checkpoint,  # the operator sees the real cause
                             **(dict(cfg_options=args.cfg_options) if args.cfg_options else {}))
    demo.queue().launch(server_name=args.host, server_port=args.port, max_file_size=args.max_file_size)
    return 0


if __name__ == '__main__':
    sys.exit(main())
