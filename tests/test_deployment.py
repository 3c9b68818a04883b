"""ONNX export (tools/deployment/export_onnx.py, mmclipdepth.apis.export_onnx / OnnxDepthModel) on tiny models and
the bundled real samples: onnxruntime against the PyTorch model, the sidecar, and the refusals."""
import glob
import json
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch

pytest.importorskip('onnxruntime')
pytest.importorskip('onnxscript')

from conftest import DATA, REPO  # noqa: E402
from mmclipdepth.apis import OnnxDepthModel, export_onnx, inference_depth, init_depth_model  # noqa: E402
from mmclipdepth.apis.onnx_depth_model import ExportError, sidecar_path  # noqa: E402
from tiny_configs import dump_tiny_config, tiny_config  # noqa: E402

NYU_SAMPLES = sorted(glob.glob(osp.join(DATA, 'nyu', 'official_splits', 'test', '*', 'rgb_*.jpg'))
                     + glob.glob(osp.join(DATA, 'nyu', 'sync', '*', 'rgb_*.jpg')))
KITTI_SAMPLES = sorted(glob.glob(osp.join(DATA, 'kitti', 'raw', '*', '*', 'image_02', 'data', '*.png')))


def _learned(cfg_name, seed=0, **head):
    """A tiny model of a learned config with 'trained' values (random, spread so the depth varies)."""
    cfg = tiny_config(cfg_name)
    cfg.model.decode_head.update(head)
    torch.manual_seed(seed)
    model = init_depth_model(cfg, allow_untrained=True)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.requires_grad:
                p.copy_(torch.randn(p.shape, generator=g) * (1.0 if 'text_encoder' in name else 0.05))
    return model


def _rel(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


def _check_against_torch(model, onnx_path, images):
    """Independent of the export's own check: both backends through inference_depth on each image."""
    runtime = OnnxDepthModel(onnx_path)
    for path in images:
        a = inference_depth(model, path)
        b = inference_depth(runtime, path)
        assert a.shape == b.shape
        # onnxruntime's kernels sum in another order than torch's (convolutions, matmuls): float32 rounding,
        # amplified by the logit scale 100 / temperature 0.1 before the softmax: 1e-4 relative
        assert _rel(b, a) <= 1e-4, (path, _rel(b, a))
    return runtime


@pytest.mark.parametrize('flip', [True, False])
def test_clip_prompt_config_exports_with_parity(tmp_path, flip):
    model = _learned('clipdepth/nyu_404d_learned7.py')
    out = str(tmp_path / 'model.onnx')
    meta = export_onnx(model, out, NYU_SAMPLES, flip_tta=flip)
    assert meta['parity']['max_rel_diff'] <= 1e-4 and len(meta['parity']['images']) == len(NYU_SAMPLES)
    assert meta['flip_tta'] is flip and meta['text_constants'] == 1
    assert meta['input']['size'] == [480, 640] and meta['output']['max_depth'] == 10.0
    side = json.load(open(sidecar_path(out)))
    assert side['input']['mean'] == [123.675, 116.28, 103.53] and side['input']['bgr_to_rgb'] is True
    with torch.no_grad():  # the flip setting really reaches the graph: it changes the depth
        model.test_cfg.mode = 'whole_flip' if flip else 'whole'
        _check_against_torch(model, out, NYU_SAMPLES[:2])
        model.test_cfg.mode = 'whole' if flip else 'whole_flip'
        other = inference_depth(model, NYU_SAMPLES[0])
    assert _rel(inference_depth(OnnxDepthModel(out), NYU_SAMPLES[0]), other) > 1e-4


def test_mirror_config_exports_with_parity(tmp_path):
    model = _learned('mirror/nyu_mirror16_deconv.py', in_channels=128, channels=16, deconv_channels=(16, 16, 8, 8, 8))
    out = str(tmp_path / 'mirror.onnx')
    meta = export_onnx(model, out, NYU_SAMPLES[:3])
    assert meta['parity']['max_rel_diff'] <= 1e-4 and meta['text_constants'] == 1
    _check_against_torch(model, out, NYU_SAMPLES[:3])


def test_kitti_export_keeps_the_kb_crop(tmp_path):
    model = _learned('clipdepth/kitti_baseline_learned7.py')
    out = str(tmp_path / 'kitti.onnx')
    meta = export_onnx(model, out, KITTI_SAMPLES)
    assert meta['input']['size'] == [352, 1216] and meta['output']['max_depth'] == 80.0
    runtime = _check_against_torch(model, out, KITTI_SAMPLES)
    sample = inference_depth(runtime, KITTI_SAMPLES[0], return_samples=True)
    assert tuple(sample.pred_depth_map.data.shape[-2:]) == (352, 1216)  # the KB crop, as the PyTorch path
    assert tuple(sample.metainfo['kb_crop']) == (375 - 352, (1242 - 1216) // 2)


def test_dynamic_shape_export_takes_other_sizes(tmp_path):
    import cv2
    model = _learned('clipdepth/nyu_baseline_learned7.py')
    out = str(tmp_path / 'dyn.onnx')
    meta = export_onnx(model, out, NYU_SAMPLES[:1], dynamic_shape=True)
    assert meta['input']['size'] is None and meta['input']['dynamic']
    runtime = OnnxDepthModel(out)
    for h, w in ((256, 320), (224, 288)):
        img = cv2.resize(cv2.imread(NYU_SAMPLES[0]), (w, h), interpolation=cv2.INTER_AREA)
        a, b = inference_depth(model, img), inference_depth(runtime, img)
        assert b.shape == (h, w) and _rel(b, a) <= 1e-4
    # two images of one size in one batch
    both = [cv2.resize(cv2.imread(p), (320, 256)) for p in NYU_SAMPLES[:2]]
    got = inference_depth(runtime, both, batch_size=2)
    want = inference_depth(model, both, batch_size=2)
    assert all(_rel(g, w_) <= 1e-4 for g, w_ in zip(got, want))


def test_zero_shot_export_through_the_tool_and_the_onnx_demo(tmp_path):
    cfg_path = dump_tiny_config('clipdepth/nyu_depthclip_zeroshot.py', tmp_path)
    out = str(tmp_path / 'depthclip.onnx')
    run = subprocess.run([sys.executable, osp.join(REPO, 'tools/deployment/export_onnx.py'), cfg_path, '--out', out],
                         capture_output=True, text=True, timeout=600, cwd=REPO)
    assert run.returncode == 0, run.stderr[-3000:]
    assert 'max relative depth difference' in run.stdout and osp.isfile(sidecar_path(out))
    meta = json.load(open(sidecar_path(out)))
    assert meta['checkpoint'] is None and meta['parity']['max_rel_diff'] <= 1e-4
    _check_against_torch(init_depth_model(cfg_path), out, NYU_SAMPLES[:2])
    # the image demo takes the .onnx in place of CONFIG [CHECKPOINT] and writes every output
    demo = subprocess.run([sys.executable, osp.join(REPO, 'demo/image_demo.py'), out, NYU_SAMPLES[0], '--out-dir',
                           str(tmp_path / 'demo'), '--focal', '518.86'], capture_output=True, text=True,
                          timeout=300, cwd=REPO)
    assert demo.returncode == 0, demo.stderr[-3000:]
    stem = osp.splitext(osp.basename(NYU_SAMPLES[0]))[0]
    depth = np.load(str(tmp_path / 'demo' / f'{stem}_depth.npy'))
    assert depth.shape == (480, 640)
    assert _rel(depth, inference_depth(init_depth_model(cfg_path), NYU_SAMPLES[0])) <= 1e-4
    for suffix in ('_depth.png', '_depth_mm.png', '.ply'):
        assert osp.getsize(str(tmp_path / 'demo' / f'{stem}{suffix}')) > 0


def test_static_model_refuses_another_size_and_bad_files(tmp_path):
    model = _learned('clipdepth/nyu_baseline_learned7.py')
    out = str(tmp_path / 'm.onnx')
    export_onnx(model, out, NYU_SAMPLES[:1])
    runtime = OnnxDepthModel(out)
    small = np.zeros((240, 320, 3), np.uint8)
    with pytest.raises(ValueError, match=r'exported for one 480x640 image.*--dynamic-shape'):
        inference_depth(runtime, small)
    with pytest.raises(ValueError, match='at least 32x32'):
        inference_depth(runtime, np.zeros((16, 16, 3), np.uint8))
    import shutil
    lonely = str(tmp_path / 'lonely.onnx')
    shutil.copy(out, lonely)
    with pytest.raises(FileNotFoundError, match='lonely.json'):
        OnnxDepthModel(lonely)
    with open(sidecar_path(lonely), 'w') as f:
        json.dump(dict(format='something-else'), f)
    with pytest.raises(ValueError, match='format'):
        OnnxDepthModel(lonely)
    # docs/reliability.md case 4: the sidecar of another export (another model, same config) placed beside this graph
    other = str(tmp_path / 'other.onnx')
    export_onnx(_learned('clipdepth/nyu_baseline_learned7.py', seed=1), other, NYU_SAMPLES[:1])
    shutil.copy(sidecar_path(other), sidecar_path(lonely))
    with pytest.raises(ValueError, match=r'lonely.json describes another graph: its graph_sha256 .* != .*lonely.onnx'):
        OnnxDepthModel(lonely)


def test_llm_mde_exports_its_image_side_and_says_what_stays_in_python(tmp_path):
    from mmengine.config import Config
    from mmclipdepth.apis.onnx_depth_model import export_llm_mde_image_tokens
    from test_llm_mde import tiny_model_cfg as tiny_llm_cfg
    cfg = Config(dict(model=tiny_llm_cfg(), default_scope='mmseg', test_pipeline=[
        dict(type='LoadImageFromFileStrict'), dict(type='Resize', scale=(32, 32), keep_ratio=False),
        dict(type='PackSegInputs')]))
    torch.manual_seed(0)
    model = init_depth_model(cfg, allow_untrained=True)
    with pytest.raises(ExportError, match='prompt writer, the tokenizer, the language model'):
        export_onnx(model, str(tmp_path / 'x.onnx'), NYU_SAMPLES[:1])
    out = str(tmp_path / 'llm_image.onnx')
    meta = export_llm_mde_image_tokens(model, out, NYU_SAMPLES[:2])
    assert meta['parity']['max_rel_diff'] <= 1e-4 and len(meta['parity']['images']) == 2
    assert meta['output']['shape'] == [1, 16, 32] and 'stay in Python' in meta['stays_in_python']
    import onnxruntime as ort
    from mmclipdepth.apis.onnx_depth_model import normalised_input
    x = normalised_input(model, NYU_SAMPLES[1])
    with torch.no_grad():
        want = model._reprogrammed(x).numpy()
    got = ort.InferenceSession(out, providers=['CPUExecutionProvider']).run(['tokens'], {'image': x.numpy()})[0]
    assert _rel(got, want) <= 1e-4
    with pytest.raises(ValueError, match='image side of an LLM-MDE model'):
        OnnxDepthModel(out)


def test_what_cannot_be_exported_is_refused_with_the_reason(tmp_path):
    model = _learned('clipdepth/nyu_baseline_learned7.py')
    model.test_cfg.mode = 'slide'
    with pytest.raises(ExportError, match='sliding-window loop stays in Python'):
        export_onnx(model, str(tmp_path / 'x.onnx'), NYU_SAMPLES[:1])
    assert not osp.exists(str(tmp_path / 'x.onnx'))


def test_int8_quantisation_calibrated_on_given_images(tmp_path):
    """``quantize_int8``: calibrated on the images given (static 480x640 frames only, others refused by name); the
    deviation it stores is the int8 model's against the fp32 one, recomputed here through ``inference_depth``."""
    from mmclipdepth.apis.onnx_quantize import int8_path, quantize_int8
    model = _learned('clipdepth/nyu_baseline_learned7.py')
    frames = [p for p in NYU_SAMPLES if 'bookstore' not in p]  # the 480x640 frames
    out = str(tmp_path / 'm.onnx')
    export_onnx(model, out, frames[:1])
    small = osp.join(DATA, 'nyu', 'official_splits', 'train', 'bookstore', 'rgb_00001.jpg')  # 120x160
    with pytest.raises(ValueError, match=r'takes 480x640 inputs.*rgb_00001\.jpg \(120x160\)'):
        quantize_int8(out, frames[:1] + [small])
    with pytest.raises(FileNotFoundError, match='nope.jpg'):
        quantize_int8(out, ['nope.jpg'])
    meta = quantize_int8(out, frames[:2])
    q = meta['quantization']
    assert q['calibration_images'] == [osp.abspath(p) for p in frames[:2]]
    fp32, int8 = OnnxDepthModel(out), OnnxDepthModel(int8_path(out))
    worst = max(_rel(inference_depth(int8, p), inference_depth(fp32, p)) for p in frames[:2])
    # the same graphs on the same inputs; resizing back to the image is identity at 480x640: float32 rounding only
    assert abs(worst - q['max_rel_diff_vs_fp32']) <= 1e-5 * max(1.0, worst)
    assert 'QuantizeLinear' in {n.op_type for n in __import__('onnx').load(int8_path(out)).graph.node}
