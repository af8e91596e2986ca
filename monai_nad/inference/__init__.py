"""Inference on user scans: input checks, slice-wise application, writing results, the embedded sample."""

from __future__ import annotations

from monai_nad.inference.evaluator import ScanEvaluator
from monai_nad.inference.heap import keep_freed_memory
from monai_nad.inference.inferer import SliceWiseInferer
from monai_nad.inference.scan_inferer import MODES, PRECISIONS, RAW_NOISE_ESTIMATE, ScanBatch, ScanInferer, choose_mode, inference_dtype
from monai_nad.inference.inputs import InputReport, log_results, prepare_inputs
from monai_nad.inference.sample import SAMPLE_NOISE_STD, write_embedded_sample
from monai_nad.inference.transforms import LoadScand, SaveDenoisedd, ScanRecord, collate_scans

__all__ = ["ScanEvaluator", "keep_freed_memory", "SliceWiseInferer", "ScanInferer", "ScanBatch", "MODES", "PRECISIONS", "RAW_NOISE_ESTIMATE", "choose_mode", "inference_dtype", "InputReport", "log_results", "prepare_inputs", "SAMPLE_NOISE_STD", "write_embedded_sample", "LoadScand", "SaveDenoisedd", "ScanRecord", "collate_scans"]
