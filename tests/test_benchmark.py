"""The benchmark's equivalence check: the optimised training path against the plainly written reference
(the authors' path: 77 positions, autograd through the trunk), on tiny CLIP models. Numbers, not timings.

float64 isolates the maths: in float32 the 100 / 0.1 logit scale amplifies rounding (different matmul shapes
for 77 vs 8 positions) to ~3e-5 relative on these tiny random models, which would hide a small real change.
"""
import json
import math
import subprocess
import sys

import open_clip
import pytest
import torch

from conftest import REPO, tiny_model_cfg
from benchmarks.authors_step import ReferencePrompts, clip_of, reference_text_features
from benchmarks.equivalence import (assert_equivalent, build_model, check_equivalence, make_batch,
                                    prepare_model_cfg, set_speedups)
from benchmarks.runner import extrapolate_reference, run_child

CONFIGS = [('baseline', 'learned-7'), ('404d', 'learned-20')]
ALL_SPEEDUPS = ['channels_last', 'share_prefix']


def _model_and_batch(template, depth_tokens, dtype=torch.float64, batch=2, size=(64, 96)):
    model = build_model(prepare_model_cfg(tiny_model_cfg(template=template, depth_tokens=depth_tokens)))
    set_speedups(model, ALL_SPEEDUPS, False)  # the plain path; tests switch the speed-ups on where they say so
    model = model.to(dtype)
    inputs, samples = make_batch(batch, size, 1e-3, 10.0, seed=3)
    for s in samples:
        s.gt_depth_map.data = s.gt_depth_map.data.to(dtype)
    return model, inputs.to(dtype), samples


@pytest.mark.parametrize('template,depth_tokens', CONFIGS)
@pytest.mark.parametrize('speedups', [[], ALL_SPEEDUPS], ids=['default', 'speedups'])
def test_optimised_equals_reference_loss_and_token_gradients(template, depth_tokens, speedups):
    model, inputs, samples = _model_and_batch(template, depth_tokens)
    set_speedups(model, speedups)
    result = check_equivalence(model, inputs, samples)
    names = {'decode_head.text_encoder.depth_vecs'}
    if template == '404d':
        names.add('decode_head.text_encoder.ctx')
    assert set(result['grad_rel_diff']) == names
    assert all(g > 0 for g in result['grad_norm'].values())  # gradients really reach the tokens
    assert math.isfinite(result['loss_reference']) and result['loss_reference'] > 0
    assert_equivalent(result, rtol=1e-9)


@pytest.mark.parametrize('template,depth_tokens', CONFIGS)
def test_float32_paths_agree_within_rounding(template, depth_tokens):
    model, inputs, samples = _model_and_batch(template, depth_tokens, dtype=torch.float32)
    set_speedups(model, ALL_SPEEDUPS)
    assert_equivalent(check_equivalence(model, inputs, samples), rtol=1e-4)


def test_check_catches_a_text_change():
    model, inputs, samples = _model_and_batch('baseline', 'learned-7')
    text = model.decode_head.text_encoder
    text.eot_index -= 1  # a "speed-up" that pools one position too early
    with pytest.raises(AssertionError, match='differ by more than'):
        assert_equivalent(check_equivalence(model, inputs, samples), rtol=1e-5)


def test_check_catches_an_image_change():
    model, inputs, samples = _model_and_batch('404d', 'learned-20')
    bb = model.backbone

    def odd_channels(x):  # keeps the odd instead of the even channels
        x = x / x.norm(dim=1, keepdim=True)
        return x[:, 1::2].contiguous()

    bb.raw_layer4_features = odd_channels
    with pytest.raises(AssertionError, match='loss'):
        assert_equivalent(check_equivalence(model, inputs, samples), rtol=1e-5)


def test_check_leaves_weights_and_batchnorm_statistics_unchanged():
    model, inputs, samples = _model_and_batch('baseline', 'learned-7')
    before = {k: v.clone() for k, v in model.state_dict().items()}
    check_equivalence(model, inputs, samples)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for p in model.parameters())
    assert not any(p.requires_grad for p in clip_of(model).parameters())


def test_reference_prompts_put_learned_vectors_at_the_placeholders():
    model, _, _ = _model_and_batch('404d', 'learned-20')
    prompts = ReferencePrompts(model)
    # SOT <p0..p3> object <p4..p7> <d_b> EOT: slots at 1-4 and 6-10, 'object' at 5, EOT at 11, 77 positions
    assert prompts.ids.shape == (20, 77)
    assert (prompts.ids[:, 0] == 49406).all() and (prompts.ids[:, 11] == 49407).all()
    assert (prompts.ids[:, 12:] == 0).all()
    mine = prompts.rows == 3
    assert prompts.cols[mine].tolist() == [1, 2, 3, 4, 6, 7, 8, 9, 10]
    assert [prompts.sources[i] for i in mine.nonzero().flatten().tolist()] == \
        [('ctx', k) for k in range(8)] + [('depth', 3)]


def test_reference_text_features_equal_open_clip_encode_text_for_words():
    model, _, _ = _model_and_batch('depthclip', 'depth-7')
    clip = clip_of(model)
    texts = [f'This object is {w}' for w in
             ['very close', 'close', 'slightly close', 'neither close nor distant', 'slightly distant', 'distant',
              'very distant']]
    with torch.no_grad():
        expected = clip.encode_text(open_clip.tokenizer.SimpleTokenizer()(texts), normalize=True)
        expected = expected / expected.norm()  # auty_frobenius
        got = reference_text_features(clip, model.decode_head.text_encoder, ReferencePrompts(model))
        package = model.decode_head.text_encoder()
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(package, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize('template,depth_tokens,prefix', [('baseline', 'learned-7', 6), ('404d', 'learned-20', 10),
                                                           ('depthclip', 'depth-7', 4), ('102d', 'learned-3', 5)])
def test_shared_prefix_text_features_equal_the_full_encoding(template, depth_tokens, prefix):
    model, _, _ = _model_and_batch(template, depth_tokens)
    text = model.decode_head.text_encoder
    # by hand: SOT This object appears to be | SOT <p0..3> object <p4..7> | SOT This object is | SOT <p0> object <p1>
    assert text.prefix_length == prefix
    with torch.no_grad():
        full = text.encode()
        text.share_prefix = True
        shared = text.encode()
    torch.testing.assert_close(shared, full, rtol=0, atol=1e-12)


def test_forward_shared_prefix_rejects_bad_shapes():
    model, _, _ = _model_and_batch('baseline', 'learned-7')
    core = model.decode_head.text_encoder.core
    with pytest.raises(ValueError, match=r'prefix must be \(1, Lp, 32\)'):
        core.forward_shared_prefix(torch.zeros(2, 3, 32), torch.zeros(2, 2, 32), torch.zeros(2, dtype=torch.long))


def test_extrapolation_adds_the_batch_increment_measured_at_other_bins():
    small_n = dict(batch=4, wall_s=10.0, cpu_s=20.0, peak_bytes=9e9)
    full = {7: dict(wall_s=8.0, cpu_s=16.0, peak_bytes=7e9), 20: dict(wall_s=9.0, cpu_s=18.0, peak_bytes=7.2e9)}
    small = {7: dict(wall_s=2.0, cpu_s=4.0, peak_bytes=3e9), 20: dict(wall_s=3.0, cpu_s=6.0, peak_bytes=3.2e9)}
    est = extrapolate_reference(small_n, full, small, batch=16)
    assert est['extrapolated'] and est['batch'] == 16 and est['measured_batch'] == 4
    assert est['wall_s'] == pytest.approx(10.0 + 6.0)
    assert est['cpu_s'] == pytest.approx(20.0 + 12.0)
    assert est['peak_bytes'] == pytest.approx(9e9 + 4e9)


def test_measurement_processes_build_identical_weights_and_check_both_variants():
    spec = dict(model_cfg=tiny_model_cfg(template='404d', depth_tokens='learned-7'), bins=20, batch=1,
                size=[64, 64], iters=1, warmup=1, kind='train')
    opt = run_child(dict(spec, path='optimised', speedups=ALL_SPEEDUPS))
    ref = run_child(dict(spec, path='reference', check=True, check_variants=[[], ALL_SPEEDUPS]))
    assert opt['num_bins'] == ref['num_bins'] == 20  # --bins overrides the config's learned-7
    assert opt['weights_fingerprint'] == ref['weights_fingerprint']
    assert set(ref['equivalence']) == {'optimised', 'optimised+channels_last+share_prefix'}
    assert all(eq['max_rel_diff'] <= 1e-4 for eq in ref['equivalence'].values())
    assert opt['timed'] == ref['timed'] == 1 and opt['peak_bytes'] > 0


def test_benchmark_cli_as_a_user_types_it(tmp_path):
    """``python tools/analysis/benchmark.py CONFIG ...`` from the repository root: the harness lives in benchmarks/
    (not installed), the tool finds it there, and each measuring process imports it too."""
    cfg = tiny_model_cfg(test_mode='whole_flip')  # random tokens: the harness allows them itself
    config = tmp_path / 'tiny.py'
    config.write_text(f'model = {cfg!r}\n')
    out = tmp_path / 'report.json'
    args = [str(config), '--bins', '3', '--batch', '1', '--size', '64', '96', '--iters', '1', '--warmup', '1',
            '--reference', '--rtol', '1e-4', '--threads', '1', '--out', str(out)]
    run = subprocess.run([sys.executable, 'tools/analysis/benchmark.py'] + args, cwd=REPO, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    report = json.loads(out.read_text())
    assert report['command'] == 'python tools/analysis/benchmark.py ' + ' '.join(args)
    (row, ) = report['rows']
    assert row['bins'] == 3 and set(row['paths']) == {'optimised', 'reference'}
    assert row['paths']['optimised']['weights_fingerprint'] == row['paths']['reference']['weights_fingerprint']
    # float32 on a tiny random model: rounding amplified by the 100 / 0.1 logit scale (~3e-5, module docstring)
    assert row['equivalence']['optimised']['passed'] and row['equivalence']['optimised']['max_rel_diff'] <= 1e-4
    assert {'trunk', 'whole:optimised', 'whole_flip:optimised'} <= set(row['inference'])
    assert '| 3 | optimised | 1 |' in run.stdout and '| 3 | whole_flip:optimised |' in run.stdout


@pytest.mark.parametrize('warmup', [0, 2])
def test_reference_check_step_never_replaces_a_timed_step(warmup):
    """``--reference`` runs one equivalence-check step first: it stands in for a warm-up step when there is one,
    else it is extra; ``--iters`` steps are always timed (``--warmup 0 --iters 1`` timed none and crashed)."""
    from benchmarks.measure import measure_training
    model = build_model(prepare_model_cfg(tiny_model_cfg(), num_bins=3))
    inputs, samples = make_batch(1, (64, 96), 1e-3, 10.0, seed=3)
    result = measure_training(model, inputs, samples, 'reference', iters=1, warmup=warmup, check=True)
    assert result['timed'] == 1 and result['wall_s'] is not None
    assert len(result['wall_all_s']) == 1 + max(0, warmup - 1)  # the check step is not among the timed ones
    assert 'max_rel_diff' in result['equivalence']['optimised']  # the check ran, on its own step
