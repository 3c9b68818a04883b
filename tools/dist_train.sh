#!/usr/bin/env bash
# Usage: [NNODES=1 NODE_RANK=0 MASTER_ADDR=127.0.0.1 PORT=29500] bash tools/dist_train.sh CONFIG GPUS [extra train.py args]
# GPUS is the number of processes on this node. Several nodes: run the same command on every node with
# NNODES, its own NODE_RANK (0 .. NNODES-1) and the address of node 0 as MASTER_ADDR (as mmseg's).
# On a CPU-only machine the gloo backend is selected automatically.
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHONPATH="$(dirname $0)/..":$PYTHONPATH \
torchrun --nnodes=$NNODES --node_rank=$NODE_RANK --master_addr=$MASTER_ADDR \
    --nproc_per_node=$GPUS --master_port=$PORT \
    $(dirname "$0")/train.py $CONFIG --launcher pytorch ${@:3}
