#!/usr/bin/env bash
# Offline quickstart: train Auty et al.'s learned-7 depth tokens for a few iterations on the bundled real NYU
# samples (tests/data/nyu), evaluate, and write depth images, 16-bit PNGs, .npy files and point clouds.
#
#   bash tools/quickstart.sh [WORK_DIR]        (default work_dirs/quickstart; about 1-2 minutes on 2 CPU cores)
#
# !!! CLIP is RANDOMLY INITIALISED here (no weights can be downloaded offline): the run proves the pipeline
# !!! works end to end; its metrics and depth maps are meaningless. With real weights, set the CLIP
# !!! `pretrained` to 'openai' (downloaded once into the hub cache) or to a local checkpoint path, e.g.
# !!!   bash tools/quickstart.sh work_dirs/qs_openai --cfg-options model.clip.pretrained=openai
# Extra arguments after WORK_DIR go to tools/train.py; their --cfg-options (e.g. the CLIP weights above) also go
# to the demo, which rebuilds the same model for the small checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK_DIR=${1:-work_dirs/quickstart}
shift || true
CONFIG=configs/quickstart/nyu_samples_learned7.py
CFG_OPTIONS=()  # the --cfg-options part of the extra arguments (to the end: argparse's nargs='+')
for arg in "$@"; do
  if [ ${#CFG_OPTIONS[@]} -gt 0 ] || [ "$arg" = --cfg-options ]; then CFG_OPTIONS+=("$arg"); fi
done
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1}

echo "== 1/3 train (12 iterations; validation with DepthEvalMetric at the end) -> ${WORK_DIR}"
python tools/train.py "${CONFIG}" --work-dir "${WORK_DIR}" "$@"
CKPT=$(cat "${WORK_DIR}/last_checkpoint")

echo "== 2/3 metrics of the final checkpoint on the bundled validation frame -> ${WORK_DIR}/metrics.json"
python - "${WORK_DIR}" "${CONFIG}" "${CKPT}" <<'PY'
import glob, json, os, sys
work_dir, config, ckpt = sys.argv[1:4]
runs = sorted(glob.glob(os.path.join(work_dir, '*', 'vis_data', 'scalars.json')), key=os.path.getmtime)
rows = [json.loads(line) for line in open(runs[-1]) if '"abs_rel"' in line]
metrics = {k: v for k, v in rows[-1].items() if k not in ('data_time', 'time', 'step')}
from mmengine.config import Config
from mmclipdepth.utils.protocol import protocol_stamp, write_metrics_json
# the validation loop produced these numbers: its loader and evaluator are the protocol, read from the config
# the run dumped into its work dir (with any --cfg-options given to this script), the checkpoint's sha256 and
# the model config's fingerprint beside them
used = os.path.join(work_dir, os.path.basename(config))
write_metrics_json(os.path.join(work_dir, 'metrics.json'), metrics,
                   protocol_stamp(Config.fromfile(used if os.path.isfile(used) else config), ckpt,
                                  'val_dataloader', 'val_evaluator'))
print('   ' + '  '.join(f'{k}={v:.4f}' for k, v in metrics.items()))
print('   (random CLIP, one frame: these numbers mean nothing; see docs/inference_and_tokens.md)')
PY

echo "== 3/3 depth images, 16-bit PNGs, .npy and point clouds -> ${WORK_DIR}/depth"
python demo/image_demo.py "${CONFIG}" "${CKPT}" 'tests/data/nyu/sync/*/rgb_*.jpg' --out-dir "${WORK_DIR}/depth" \
    --colorbar --intrinsics 518.8579 519.4696 325.5824 253.7362 "${CFG_OPTIONS[@]}"
echo "== done: ${WORK_DIR}/metrics.json, ${WORK_DIR}/depth/, painted validation images under ${WORK_DIR}/*/vis_data/vis_image/"
