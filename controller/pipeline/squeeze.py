"""Squeezing: prune, cluster, quantization-aware training, TFLite conversion, then on-device compression.

Options combine in the order the spec documents: prune -> cluster (sparsity kept) -> QAT ->
convert -> LUT compression (`controller.pipeline.compression`). Calibration (representative data)
comes from the training split only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from controller.pipeline.datasets import Snapshot
from controller.pipeline.tf_runtime import import_tf
from controller.pipeline.training import compile_model
from controller.pipeline.training import fit
from controller.pipeline.training import seed_everything
from specs.errors import StageError
from specs.v1alpha1.model import Training
from specs.v1alpha1.model import Variant
from wire.logs import Say

REPRESENTATIVE_SAMPLES = 200


@dataclass
class SqueezeOutcome:
    tflite: bytes
    model: object          # the stripped Keras model the tflite was converted from
    steps: list[str]       # what was applied, in order
    uncompressed: bytes | None = None  # the converted model before LUT compression (what LiteRT can run)
    compression: dict | None = None    # what LUT compression did, per weight tensor


def _tfmot():
    import_tf()
    import tensorflow_model_optimization as tfmot

    return tfmot


def prune(model, snapshot: Snapshot, training: Training, sparsity: float, epochs: int, progress, label):
    tfmot = _tfmot()
    steps_per_epoch = math.ceil(len(snapshot.y("train")) / training.batchSize)
    end = max(1, int(steps_per_epoch * epochs * 0.7))  # reach the target, then fine-tune at it
    schedule = tfmot.sparsity.keras.PolynomialDecay(initial_sparsity=0.0, final_sparsity=sparsity,
                                                   begin_step=0, end_step=end, frequency=max(1, end // 10))
    pruned = tfmot.sparsity.keras.prune_low_magnitude(model, pruning_schedule=schedule)
    compile_model(pruned, training, snapshot.task)
    fit(pruned, snapshot, training, epochs, progress, f"{label} prune",
        [tfmot.sparsity.keras.UpdatePruningStep()], early_stopping=False)
    return tfmot.sparsity.keras.strip_pruning(pruned)


def cluster(model, snapshot: Snapshot, training: Training, clusters: int, epochs: int, keep_sparsity: bool,
            progress, label):
    tfmot = _tfmot()
    # The sparsity-preserving variant lives in the experimental module, not re-exported by the API.
    from tensorflow_model_optimization.python.core.clustering.keras.experimental.cluster import cluster_weights

    # LINEAR, not k-means++: k-means++ fails on small layers whose sparse halves have fewer points than clusters.
    init = tfmot.clustering.keras.CentroidInitialization.LINEAR
    try:
        clustered = cluster_weights(
            model, number_of_clusters=clusters, cluster_centroids_init=init, preserve_sparsity=keep_sparsity)
    except Exception as err:  # ValueError or a TF InvalidArgumentError from the centroid initialisation
        raise StageError(f"{label}: weight clustering with {clusters} clusters failed ({err}); "
                         "use fewer clusters") from err
    if epochs:
        compile_model(clustered, training, snapshot.task, learning_rate=training.learningRate * 0.5)
        fit(clustered, snapshot, training, epochs, progress, f"{label} cluster", early_stopping=False)
    return tfmot.clustering.keras.strip_clustering(clustered)


def quantization_aware(model, snapshot: Snapshot, training: Training, epochs: int, progress, label):
    tfmot = _tfmot()
    try:
        annotated = tfmot.quantization.keras.quantize_model(model)
    except (ValueError, RuntimeError) as err:
        raise StageError(f"{label}: quantization-aware training does not support this model ({err})") from err
    compile_model(annotated, training, snapshot.task, learning_rate=training.learningRate * 0.5)
    fit(annotated, snapshot, training, epochs, progress, f"{label} qat", early_stopping=False)
    return annotated


def representative(snapshot: Snapshot, seed: int):
    x = snapshot.x("train")
    pick = np.random.default_rng(seed).permutation(len(x))[:REPRESENTATIVE_SAMPLES]

    def samples():
        for i in pick:
            yield [x[i:i + 1].astype(np.float32)]

    return samples


def convert(model, quantization: str, snapshot: Snapshot, seed: int) -> bytes:
    tf, _ = import_tf()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantization == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative(snapshot, seed)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    elif quantization == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    try:
        return bytes(converter.convert())
    except Exception as err:  # the converter raises many types; the user needs its message
        raise StageError(f"TFLite conversion ({quantization}) failed: {err}") from err


def squeeze(trained_model, variant: Variant, snapshot: Snapshot, training: Training,
            progress: Say | None = None, label: str = "squeeze") -> SqueezeOutcome:
    """Apply the variant's options to a copy of the trained model and convert it."""
    tf, keras = import_tf()
    seed_everything(training.seed)
    model = keras.models.clone_model(trained_model)
    model.set_weights(trained_model.get_weights())
    steps = []
    if variant.pruning:
        model = prune(model, snapshot, training, variant.pruning.sparsity, variant.pruning.epochs, progress, label)
        steps.append(f"prune {variant.pruning.sparsity:g}")
    if variant.clustering:
        model = cluster(model, snapshot, training, variant.clustering.clusters, variant.clustering.epochs,
                        keep_sparsity=variant.pruning is not None, progress=progress, label=label)
        steps.append(f"cluster {variant.clustering.clusters}")
    if variant.qat:
        model = quantization_aware(model, snapshot, training, variant.qatEpochs, progress, label)
        steps.append("qat")
    tflite = convert(model, variant.quantization, snapshot, training.seed)
    steps.append(f"convert {variant.quantization}")
    if variant.compression:
        from controller.pipeline.compression import lut_compress

        bits = variant.compression.lut.bits
        lut = lut_compress(tflite, bits)
        steps.append(lut.step(bits))
        return SqueezeOutcome(tflite=lut.tflite, model=model, steps=steps, uncompressed=tflite,
                              compression=lut.summary(bits, len(tflite)))
    return SqueezeOutcome(tflite=tflite, model=model, steps=steps)
