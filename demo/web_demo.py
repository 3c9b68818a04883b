"""A web demo (Gradio): upload an image or pick a bundled sample, see its depth, download the results.

    pip install -e .[demo]
    python demo/web_demo.py [--config CONFIG [--checkpoint CKPT] | --model MODEL.onnx] [--host 127.0.0.1]
        [--port 7860] [--max-side 4096]

The page offers the models given on the command line (or every config in configs/ with nothing to train, e.g.
DepthCLIP zero-shot, when none is given), a checkpoint path for configs that need one, an image upload and
the bundled NYU / KITTI samples. It shows the depth coloured with a colour bar in metres and an interactive
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


def zero_shot_configs():
    """Configs under configs/ whose models have nothing to train (they run without a checkpoint)."""
    out = []
    for path in sorted(glob.glob(osp.join(REPO, 'configs', 'clipdepth', '*zeroshot*.py'))):
        out.append(osp.relpath(path, REPO))
    return out


class DepthService:
    """Loads models on demand (cached) and turns one image file into the demo's outputs."""

    def __init__(self, max_side: int = 4096, out_root=None):
        self.max_side = int(max_side)
        self.out_root = out_root or tempfile.mkdtemp(prefix='mmclipdepth_demo_')
        os.makedirs(self.out_root, exist_ok=True)
        self._models = {}

    def model(self, spec: str, checkpoint=None):
        from mmclipdepth.apis import load_depth_model
        checkpoint = (checkpoint or '').strip() or None
        key = (spec, checkpoint)
        if key not in self._models:
            if not spec:
                raise DemoError('choose a model')
            path = spec if osp.isabs(spec) or osp.isfile(spec) else osp.join(REPO, spec)
            if not osp.isfile(path):
                raise DemoError(f'model {spec!r} does not exist')
            if checkpoint is not None and not osp.isfile(checkpoint):
                raise DemoError(f'checkpoint {checkpoint!r} does not exist')
            try:
                self._models[key] = load_depth_model(path, checkpoint)
            except (ValueError, KeyError, FileNotFoundError) as e:
                raise DemoError(f'could not load {spec}: {e}') from e
        return self._models[key]

    def read(self, image_path) -> np.ndarray:
        import cv2
        if not image_path:
            raise DemoError('upload an image or pick a sample')
        data = np.fromfile(str(image_path), dtype=np.uint8)
        img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        if img is None:
            raise DemoError(f'{osp.basename(str(image_path))} is not an image (JPEG, PNG, ...)')
        h, w = img.shape[:2]
        if max(h, w) > self.max_side:
            raise DemoError(f'the image is {w}x{h} px; this demo takes at most {self.max_side} px per side')
        return img

    def predict(self, spec, checkpoint, image_path, focal, progress=lambda *a, **k: None) -> dict:
        from mmclipdepth.apis import (backproject_depth, depth_to_png16, image_for_prediction, inference_depth,
                                      render_depth_colorbar, write_glb_points, write_ply)
        import cv2
        progress(0.05, desc='reading the image')
        img = self.read(image_path)
        progress(0.15, desc='loading the model')
        model = self.model(spec, checkpoint)
        need = int(getattr(getattr(model, 'backbone', None), 'min_input_size', 1) or 1)
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
        out = tempfile.mkdtemp(dir=self.out_root)
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
    import gradio as gr

    def run(spec, checkpoint, image, focal, progress=gr.Progress()):
        try:
            r = service.predict(spec, checkpoint, image, focal, progress)
        except DemoError as e:
            raise gr.Error(str(e), print_exception=False) from None
        except Exception as e:  # noqa: BLE001 - anything else: a message in the page, the trace in the server log
            raise gr.Error(f'depth estimation failed: {type(e).__name__}: {e}') from e
        f = r['files']
        return r['colour'], f['glb'], f['png16'], f['npy'], f['ply'], r['summary']

    with gr.Blocks(title='mmclipdepth depth demo') as demo:
        gr.Markdown('# mmclipdepth: monocular depth from a frozen CLIP\nUpload an image or pick a sample.')
        with gr.Row():
            with gr.Column():
                model = gr.Dropdown(models, value=models[0] if models else None, label='model (config or .onnx)',
                                    allow_custom_value=True, elem_id='model')
                checkpoint = gr.Textbox(value=checkpoint_default or '', elem_id='checkpoint',
                                        label='checkpoint (path on the server; empty for zero-shot and .onnx)')
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
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    src = p.add_mutually_exclusive_group()
    src.add_argument('--config', action='append', default=[], help='a config to offer (repeatable)')
    src.add_argument('--model', action='append', default=[], help='an exported MODEL.onnx to offer (repeatable)')
    p.add_argument('--checkpoint', default=None, help='checkpoint of the (first) --config')
    p.add_argument('--host', default='127.0.0.1')
    p.add_argument('--port', type=int, default=7860)
    p.add_argument('--max-side', type=int, default=4096)
    args = p.parse_args(argv)
    try:
        import gradio  # noqa: F401
    except ImportError:
        sys.exit('error: the web demo needs Gradio: pip install -e .[demo]')
    models = args.config + args.model or zero_shot_configs()
    service = DepthService(args.max_side)
    demo = build_demo(models, service, args.checkpoint or '')
    if args.checkpoint and args.config:
        service.model(args.config[0], args.checkpoint)  # loaded (and checked) before the page opens
    demo.queue().launch(server_name=args.host, server_port=args.port)
    return 0


if __name__ == '__main__':
    sys.exit(main())
