"""The one flip averaging and the one post-processing (mmclipdepth/models/utils/depth_postprocess.py) against hand
computations; the estimator, mmseg's --tta path (DepthTTAModel) and OnnxDepthModel give the same depth on the same
image; the estimator family; no import circle in mmclipdepth.apis."""
import ast
import glob
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from conftest import DATA, REPO
from mmclipdepth.models.utils.depth_postprocess import average_views, flip_average, postprocess_depth

EPS32 = float(np.finfo(np.float32).eps)  # 2**-23
FRAME = sorted(glob.glob(osp.join(DATA, 'nyu', 'official_splits', 'test', '*', 'rgb_*.jpg')))[0]  # 480x640


def _sample(**meta):
    return SegDataSample(metainfo=meta)


# ---------------------------------------------------------------------------------------------- flip_average
def test_flip_average_matches_a_hand_computation():
    n, c, h, w = 2, 2, 3, 4
    low = torch.arange(2 * n * c * h * w, dtype=torch.float64).reshape(2 * n, c, h, w) * 0.5
    low[3, 1, 2, 0] = 100.0  # one marked value in the mirror batch: it must land at column w-1 of image 1
    got = flip_average(low, n)
    assert got.shape == (n, c, h, w)
    v = low.tolist()
    for i in range(n):
        for ch in range(c):
            for y in range(h):
                for x in range(w):
                    # image i's pixel and the pixel its mirror (image n+i) holds at the mirrored column;
                    # halves of multiples of 0.5 below 2**52 are exact in float64
                    want = (v[i][ch][y][x] + v[n + i][ch][y][w - 1 - x]) / 2
                    assert got[i, ch, y, x].item() == want, (i, ch, y, x)
    assert got[1, 1, 2, w - 1].item() == (v[1][1][2][w - 1] + 100.0) / 2
    with pytest.raises(ValueError, match=r'expects a \(2\*2, C, H, W\) batch .* got shape \(3, 2, 3, 4\)'):
        flip_average(low[:3], 2)


def test_two_views_average_as_torch_mean_bit_for_bit():
    """DepthTTAModel averaged its views with torch.stack(...).mean(0); average_views computes (a + b) / 2: the
    sum is rounded once in both, and halving is exact (no subnormals here), so the --tta numbers are unchanged."""
    g = torch.Generator().manual_seed(0)
    for dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
        for scale in (1e-3, 1.0, 10.0, 80.0):
            a = (torch.rand(2, 1, 37, 53, generator=g) * scale).to(dtype)
            b = (torch.rand(2, 1, 37, 53, generator=g) * scale).to(dtype)
            assert torch.equal(average_views([a, b]), torch.stack([a, b]).mean(0)), (dtype, scale)
    three = [torch.full((1, 2), float(k)) for k in (1, 2, 6)]
    assert average_views(three).tolist() == [[3.0, 3.0]]
    with pytest.raises(ValueError, match='at least one view'):
        average_views([])


# ---------------------------------------------------------------------------------------------- postprocess_depth
def _grid(h, w, offset=0.0):
    """(1, 1, h, w) float32 depth whose value names its pixel: 100*y + x + offset (exact in float32)."""
    return (torch.arange(h * w, dtype=torch.float32).reshape(h, w) // w * 100
            + torch.arange(w, dtype=torch.float32).repeat(h, 1) + offset)[None, None]


@pytest.mark.parametrize('align_corners', [False, True])
def test_padding_is_removed_and_flips_are_undone_by_hand(align_corners):
    depth = _grid(7, 9)  # padded: left 1, right 2, top 0, bottom 3 -> the image is rows 0..3, columns 1..6
    pad = [1, 2, 0, 3]
    v = depth[0, 0].tolist()
    image = [[v[y][x] for x in range(1, 7)] for y in range(0, 4)]  # 4 x 6
    cases = {
        None: image,
        'horizontal': [[row[5 - x] for x in range(6)] for row in image],
        'vertical': [image[3 - y] for y in range(4)],
    }
    for flip, want in cases.items():
        meta = dict(ori_shape=(4, 6), padding_size=pad)
        if flip:
            meta.update(flip=True, flip_direction=flip)
        # resizing to the same size is the identity for bilinear sampling with either align_corners
        out = postprocess_depth(depth.clone(), [_sample(**meta)], align_corners)[0].pred_depth_map.data
        assert out.shape == (1, 4, 6) and out[0].tolist() == want, flip
    # img_padding_size (mmseg: the padding of the image alone) wins over padding_size
    meta = dict(ori_shape=(4, 6), img_padding_size=pad, padding_size=[0, 0, 0, 0])
    assert postprocess_depth(depth, [_sample(**meta)], align_corners)[0].pred_depth_map.data[0].tolist() == image
    with pytest.raises(ValueError, match=r"'a.jpg'.*flip_direction 'diagonal'"):
        postprocess_depth(depth, [_sample(ori_shape=(4, 6), padding_size=pad, flip=True, flip_direction='diagonal',
                                          img_path='a.jpg')], align_corners)


def test_resize_to_ori_shape_by_hand():
    depth = torch.tensor([[[[0.0, 2.0], [4.0, 6.0]]]])
    # align_corners=True: the corners are kept, the rest is linear between them
    out = postprocess_depth(depth, [_sample(ori_shape=(3, 3))], True)[0].pred_depth_map.data[0]
    assert out.tolist() == [[0, 1, 2], [2, 3, 4], [4, 5, 6]]
    # align_corners=False: output pixel x samples input position (x + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25,
    # clamped to [0, 1]: weights of the right neighbour 0, 0.25, 0.75, 1
    out = postprocess_depth(depth, [_sample(ori_shape=(4, 4))], False)[0].pred_depth_map.data[0]
    row = [0.0, 0.5, 1.5, 2.0]  # along x between 0 and 2; along y the same weights between +0 and +4
    assert out.tolist() == [[r + 4.0 * t for r in row] for t in (0.0, 0.25, 0.75, 1.0)]


def test_crop_boxes_are_pasted_into_the_frame_by_hand():
    # sample 0: the image alone was cropped to box (left 2, top 1, right 5, bottom 3) of a 4x7 frame, then padded
    # by one column right and one row bottom; sample 1 (same batch): a plain image resized to 2x3 (identity)
    depth = torch.cat([_grid(3, 4), _grid(3, 4, offset=0.5)])
    boxed = dict(ori_shape=(4, 7), img_crop_box=(2, 1, 5, 3), padding_size=[0, 1, 0, 1], img_path='boxed.jpg')
    plain = dict(ori_shape=(2, 3), padding_size=[0, 1, 0, 1])
    samples = postprocess_depth(depth, [_sample(**boxed), _sample(**plain)], True)
    v0, v1 = depth[0, 0].tolist(), depth[1, 0].tolist()
    want = [[0.0] * 7 for _ in range(4)]
    for y in range(2):
        for x in range(3):
            want[1 + y][2 + x] = v0[y][x]
    assert samples[0].pred_depth_map.data.shape == (1, 4, 7)
    assert samples[0].pred_depth_map.data[0].tolist() == want
    assert samples[1].pred_depth_map.data[0].tolist() == [row[:3] for row in v1[:2]]
    # a mirrored view of a cropped image (FlipTestTimeAug after ImageOnlyCrop) is mirrored back, then pasted
    # (the view is padded after the flip: the padding stays right and bottom)
    mirrored = depth[:1].clone()
    mirrored[..., :2, :3] = depth[:1, :, :2, :3].flip(3)
    flipped = postprocess_depth(mirrored, [_sample(**boxed, flip=True, flip_direction='horizontal')], True)
    assert flipped[0].pred_depth_map.data[0].tolist() == want
    with pytest.raises(ValueError, match=r"prediction of 'boxed.jpg' is \(2, 3\), img_crop_box \(2, 1, 6, 3\) "
                                         r'needs \(2, 4\)'):
        postprocess_depth(depth[:1], [_sample(**dict(boxed, img_crop_box=(2, 1, 6, 3)))], True)


def test_without_data_samples_the_prediction_is_kept():
    depth = _grid(3, 4)
    out = postprocess_depth(torch.cat([depth, depth + 1]), None, False)
    assert len(out) == 2 and torch.equal(out[1].pred_depth_map.data, depth[0] + 1)


# ---------------------------------------------------------------------------------------------- the three paths
@pytest.fixture(scope='module')
def protocol_model():
    """The DepthCLIP protocol config (ImageOnlyCrop: img_crop_box, whole_flip) with the tiny CLIP."""
    from mmclipdepth.apis import init_depth_model
    from tiny_configs import tiny_config
    cfg = tiny_config('clipdepth/nyu_depthclip_zeroshot_protocol.py')
    assert cfg.model.test_cfg.mode == 'whole_flip'
    return init_depth_model(cfg)


def _tta_views(model, path):
    """mmseg's --tta input for one image: the config's inference pipeline with FlipTestTimeAug in place of
    PackSegInputs (as configs/_base_/datasets/nyu.py builds tta_pipeline), batched as BaseTTAModel takes it."""
    from mmengine.dataset import Compose
    pack = model.inference_pipeline_cfg[-1]
    assert pack['type'] == 'PackSegInputs' and 'img_crop_box' in pack['meta_keys']
    views = Compose(model.inference_pipeline_cfg[:-1] + [dict(type='FlipTestTimeAug',
                                                                meta_keys=pack['meta_keys'])])(dict(img_path=path))
    assert [s.metainfo['flip'] for s in views['data_samples']] == [False, True]
    return dict(inputs=[[x] for x in views['inputs']], data_samples=[[s] for s in views['data_samples']])


def test_estimator_and_tta_paths_give_the_same_depth(protocol_model):
    from mmclipdepth.apis import inference_depth
    from mmclipdepth.models.segmentors import DepthTTAModel
    model = protocol_model
    want = inference_depth(model, FRAME, return_samples=True).pred_depth_map.data[0]  # whole_flip
    box = (60, 56, 604, 472)
    assert want.shape == (480, 640) and float(want[:56].abs().max()) == 0.0 and float(want[56:472, 60:604].min()) > 0
    model.test_cfg.mode = 'whole'  # each view plain; DepthTTAModel averages them
    try:
        with torch.no_grad():
            got = DepthTTAModel(module=model).test_step(_tta_views(model, FRAME))[0].pred_depth_map.data[0]
            x = model.data_preprocessor(dict(inputs=[_tta_views(model, FRAME)['inputs'][0][0]]), False)['inputs']
            low_w = model._forward(x).shape[-1]
    finally:
        model.test_cfg.mode = 'whole_flip'
    # whole_flip averages at the head's 13x17 and then upsamples; --tta upsamples each view and averages: both
    # linear, so they differ by float32 rounding only: a few roundings per value (interpolation, averaging), plus
    # the mirrored view's interpolation weights, computed at mirrored source positions whose float error grows
    # with the position (up to low_w px): bound (8 + low_w) * eps * max depth, about 3e-6 relative here
    bound = (8 + low_w) * EPS32 * float(want.abs().max())
    diff = float((got - want).abs().max())
    assert diff <= bound, (diff, bound)
    assert torch.equal(got == 0, want == 0)  # the same frame outside the box (a mirrored paste would differ)
    assert got.shape == want.shape and box[2] - box[0] == 544


def test_onnx_model_post_processes_as_the_estimator(protocol_model, tmp_path):
    pytest.importorskip('onnxruntime')
    pytest.importorskip('onnxscript')
    from mmclipdepth.apis import OnnxDepthModel, export_onnx, inference_depth
    from mmclipdepth.apis.onnx_depth_model import _ImageToDepth
    model = protocol_model
    out = str(tmp_path / 'protocol.onnx')
    meta = export_onnx(model, out, [FRAME])
    assert meta['flip_tta'] is True and meta['input']['size'] == [416, 544] and meta['input']['min_size'] == 32
    runtime = OnnxDepthModel(out)
    assert runtime.min_input_size == model.min_input_size == 32 and not hasattr(runtime, 'backbone')
    want = inference_depth(model, FRAME, return_samples=True).pred_depth_map.data
    # the same graph output in PyTorch: OnnxDepthModel's post-processing is the estimator's, bit for bit
    graph = _ImageToDepth(model, flip=True).eval()
    runtime.run = lambda arr: graph(torch.from_numpy(arr)).detach().numpy()
    with torch.no_grad():
        same = inference_depth(runtime, FRAME, return_samples=True).pred_depth_map.data
    assert torch.equal(same, want)
    # onnxruntime itself: its kernels sum in another order than torch's (float32 rounding amplified by the logit
    # scale before the softmax, as in tests/test_deployment.py): 1e-4 relative; the frame outside the box stays 0
    del runtime.run
    got = inference_depth(runtime, FRAME, return_samples=True).pred_depth_map.data
    assert float((got - want).abs().max()) <= 1e-4 * float(want.abs().max())
    assert torch.equal(got == 0, want == 0)


# ---------------------------------------------------------------------------------------------- family, imports
def test_the_clip_and_llm_estimators_are_siblings():
    from mmseg.registry import MODELS
    from mmclipdepth.models.segmentors import CLIPDepthEstimator, LLMDepthEstimator, MultiVariantDepthEstimator
    from mmclipdepth.models.segmentors.base_depth_estimator import BaseDepthEstimator
    assert CLIPDepthEstimator.__bases__ == (BaseDepthEstimator, )
    assert LLMDepthEstimator.__bases__ == (BaseDepthEstimator, )
    assert not issubclass(LLMDepthEstimator, CLIPDepthEstimator)
    assert issubclass(MultiVariantDepthEstimator, CLIPDepthEstimator)
    for name in ('CLIPDepthEstimator', 'LLMDepthEstimator', 'MultiVariantDepthEstimator', 'DepthTTAModel'):
        assert MODELS.get(name) is not None, name
    assert MODELS.get('BaseDepthEstimator') is None  # a base, not a model to build


@pytest.mark.parametrize('first', ['mmclipdepth.apis.onnx_depth_model', 'mmclipdepth.apis.inference',
                                   'mmclipdepth.apis.model_loading'])
def test_apis_modules_import_in_any_order(first):
    """A fresh interpreter imports ``first`` before anything else of the package's API (a circle of top-level
    imports fails in one of the orders)."""
    code = (f'import importlib, sys; importlib.import_module({first!r}); '
            'from mmclipdepth.apis import OnnxDepthModel, inference_depth, load_depth_model; print("ok")')
    run = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300, cwd=REPO,
                         env=dict(os.environ, PYTHONPATH=REPO, HF_HUB_OFFLINE='1'))
    assert run.returncode == 0 and run.stdout.strip().endswith('ok'), run.stderr[-3000:]


def _import_graph():
    """Module -> the package modules it imports anywhere in its file (function-level imports included)."""
    root = osp.join(REPO, 'mmclipdepth')
    mods = {}
    for folder, _, files in os.walk(root):
        for f in files:
            if f.endswith('.py'):
                rel = osp.relpath(osp.join(folder, f), REPO)[:-3].replace(os.sep, '.')
                mods[rel[:-len('.__init__')] if rel.endswith('.__init__') else rel] = osp.join(folder, f)
    graph = {m: set() for m in mods}
    for mod, path in mods.items():
        package = mod if path.endswith('__init__.py') else mod.rsplit('.', 1)[0]
        for node in ast.walk(ast.parse(open(path, encoding='utf-8').read())):
            if isinstance(node, ast.ImportFrom):
                parts = package.split('.')
                base = '.'.join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else [])) \
                    if node.level else (node.module or '')
                targets = [f'{base}.{a.name}' if f'{base}.{a.name}' in mods else base for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            graph[mod].update(t for t in targets if t in mods and t != mod)
    return graph


def _cycles(graph):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_circle_even_through_function_level_imports():
    graph = _import_graph()
    assert 'mmclipdepth.apis.inference' in graph['mmclipdepth.apis.onnx_depth_model']  # the graph sees imports
    assert _cycles({'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}) == [['a', 'b', 'c']]  # and finds circles
    # mmclipdepth.testing (development material, leaving the package) is the one known circle
    circles = [c for c in _cycles(graph) if not all(m.startswith('mmclipdepth.testing') for m in c)]
    assert not circles, circles
