from .consistency_metrics import SpatialContinuityMetric, TemporalConsistencyMetric
from .depth_eval_metric import DepthEvalMetric
from .dump_depth_results import DumpDepthResults
from .flicker_metric import FlickerMetric
from .normalized_delta_metric import NormalizedDeltaMetric

__all__ = ['DepthEvalMetric', 'DumpDepthResults', 'SpatialContinuityMetric', 'TemporalConsistencyMetric',
           'NormalizedDeltaMetric', 'FlickerMetric']
