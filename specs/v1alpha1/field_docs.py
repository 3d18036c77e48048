"""What each spec field means, with an example: the JSON Schemas carry them (editors show them on
hover and complete with the examples), and a test requires one for every property.

Kept in one table rather than in every `Field(...)`: the models stay readable as validation rules,
and the wording of the whole API reads (and is reviewed) in one place. A `Field(description=...)`
in a model wins over the table. `ClassName.field` keys; a base class's key serves its subclasses.
"""
from __future__ import annotations

import re
from typing import Any

FIELD_DOCS: dict[str, tuple[str | None, Any]] = {  # None: the model's Field(description=) says it
    # --- every document -------------------------------------------------------------------------
    "Document.apiVersion": ("API version of the document; this Origami reads origami/v1alpha1.", "origami/v1alpha1"),
    "Document.metadata": ("Name, labels and description of the object.", {"name": "digits"}),
    "Dataset.kind": ("The kind of document.", "Dataset"),
    "Model.kind": ("The kind of document.", "Model"),
    "Fleet.kind": ("The kind of document.", "Fleet"),
    "DeviceProfile.kind": ("The kind of document.", "DeviceProfile"),
    "Dataset.spec": ("Where the samples come from, how they are prepared and split.",
                     {"task": "classification", "sources": [{"type": "packaged", "name": "sklearn.digits"}]}),
    "Model.spec": ("Architecture, training, squeezed variants, gates and split policy.",
                   {"dataset": "digits", "architecture": {"preset": "cnn2d"}, "training": {"epochs": 30}}),
    "Fleet.spec": ("Which devices run which model, and how updates roll out.",
                   {"model": "digits", "selector": {"boards": ["rpi4"]}}),
    "DeviceProfile.spec": ("What the board class is and can do.",
                           {"board": "Raspberry Pi 4", "family": "linux", "cpu": "Cortex-A72", "clockMHz": 1500,
                            "ram": "1GiB", "flash": "8GiB", "runtime": "litert", "macsPerSecond": 2e9,
                            "transports": ["wifi"]}),
    "ObjectMeta.name": ("Unique name within its kind: lowercase letters, digits and '-', at most 63 characters; "
                        "it appears in MQTT topics, file names and URLs.", "digits-mcu"),
    "ObjectMeta.labels": ("Key/value labels; `origami get -l key=value` selects fleets by them.",
                          {"team": "sensing"}),
    "ObjectMeta.description": ("Free text for people; shown by the dashboard.", "Handwritten digits, 8x8 pixels."),
    # --- Dataset --------------------------------------------------------------------------------
    "DatasetSpec.task": ("classification (labels) or regression (a number).", "classification"),
    "DatasetSpec.sources": ("Where samples come from; several sources are concatenated.",
                            [{"type": "generated", "generator": "sine", "samples": 2000}]),
    "DatasetSpec.preprocessing": ("Normalization, windowing and resizing, in that order.",
                                  {"normalize": {"method": "standard"}}),
    "DatasetSpec.split": ("Train/validation/test ratios (summing to 1) and the shuffle seed.",
                          {"train": 0.7, "validation": 0.15, "test": 0.15, "seed": 7}),
    "DatasetSpec.retrain": ("Retrain the models of this dataset once enough new collected samples arrived.",
                            {"minNewSamples": 500}),
    "FilesSource.type": ("Samples read from files of the spec repository.", "files"),
    "FilesSource.format": ("File format: csv, npz, images (one folder per class) or wav.", "csv"),
    "FilesSource.path": ("File or folder, relative to the spec file; never outside the repository.",
                         "data/readings.csv"),
    "FilesSource.target": (None, "label"),
    "FilesSource.features": (None, "x"),
    "PackagedSource.type": ("Data shipped inside an installed package.", "packaged"),
    "PackagedSource.name": ("Which packaged dataset.", "sklearn.digits"),
    "GeneratedSource.type": ("Seeded synthetic data.", "generated"),
    "GeneratedSource.generator": ("sine (y = sin x with noise) or gestures (accelerometer windows).", "sine"),
    "GeneratedSource.samples": ("How many samples to generate.", 2000),
    "GeneratedSource.seed": ("Random seed: the same seed gives the same samples.", 7),
    "GeneratedSource.noise": ("Standard deviation of the Gaussian noise added.", 0.05),
    "SpeechSource.type": ("Seeded synthetic data.", "generated"),
    "SpeechSource.generator": ("speech: words spoken by espeak-ng with seeded voices, noise and shifts.", "speech"),
    "SpeechSource.words": ("The keywords, one class each: lowercase letters, at most 20; quote yes/no/on/off.",
                           ["yes", "no", "up", "down"]),
    "SpeechSource.unknownWords": ("Other words, spoken for the `unknown` class; empty: no such class.",
                                  ["top", "dawn"]),
    "SpeechSource.utterancesPerWord": ("Clips of each class.", 200),
    "SpeechSource.silence": ("Add a `silence` class of background noise only.", True),
    "SpeechSource.seed": ("Random seed: the same seed and espeak-ng version give the same clips.", 7),
    "SpeechSource.noise": (None, 0.1),
    "SpeechSource.shiftMs": (None, 100),
    "Preprocessing.audioFeatures": ("An MFCC or log-mel front end over audio clips, the same on host and device.",
                                    {"kind": "mfcc"}),
    "AudioFeatures.kind": ("mfcc (MFCCs of log-mel energies) or logmel.", "mfcc"),
    "AudioFeatures.sampleRate": ("Sample rate of the clips, in Hz.", 16000),
    "AudioFeatures.frameMs": (None, 40.0),
    "AudioFeatures.strideMs": ("Step between frames, in milliseconds.", 20.0),
    "AudioFeatures.melBins": ("Mel filter bank channels.", 40),
    "AudioFeatures.coefficients": (None, 10),
    "AudioFeatures.lowerHz": ("Lowest frequency of the mel filter bank, in Hz.", 20.0),
    "AudioFeatures.upperHz": ("Highest frequency of the mel filter bank, in Hz (at most half the sample rate).",
                              4000.0),
    "CollectedSource.type": ("Sensor windows collected from a fleet's devices.", "collected"),
    "CollectedSource.fleet": ("The Fleet whose devices record the windows.", "wearables"),
    "CollectedSource.sensor": ("Sensor name, as the devices report it.", "accel"),
    "CollectedSource.window": (None, 64),
    "CollectedSource.labels": ("The classes, in label order; windows with other labels are left out.",
                               ["idle", "shake"]),
    "Preprocessing.normalize": ("How inputs are scaled (statistics from the training split only).",
                                {"method": "standard"}),
    "Preprocessing.window": ("Cut time series into windows of `size` readings every `stride` readings.",
                             {"size": 64, "stride": 32}),
    "Preprocessing.resize": ("Resize images to this height and width.", {"height": 32, "width": 32}),
    "Normalize.method": ("standard (zero mean, unit variance), minmax (0..1) or none.", "standard"),
    "Window.size": ("Readings per window.", 64),
    "Window.stride": ("Readings between the starts of two windows.", 32),
    "Resize.height": ("Image height in pixels.", 32),
    "Resize.width": ("Image width in pixels.", 32),
    "Split.train": ("Fraction of samples to train on.", 0.7),
    "Split.validation": ("Fraction held out for early stopping and model choice.", 0.15),
    "Split.test": ("Fraction held out for the figures the gates judge.", 0.15),
    "Split.seed": ("Shuffle seed of the split.", 7),
    "Split.stratify": (None, True),
    "RetrainPolicy.minNewSamples": ("New collected windows that trigger a new snapshot and a retraining.", 500),
    # --- Model ----------------------------------------------------------------------------------
    "ModelSpec.dataset": ("The Dataset to train on (its name).", "digits"),
    "ModelSpec.architecture": ("A preset network or your own `module:function`.", {"preset": "mlp", "units": [16, 16]}),
    "ModelSpec.training": ("Epochs, batch size, optimizer, seed and early stopping.",
                           {"epochs": 30, "batchSize": 32, "seed": 7}),
    "ModelSpec.variants": ("Squeezed forms to build and measure; each device class gets the best one that fits.",
                           [{"name": "int8", "quantization": "int8"}, {"name": "float32", "quantization": "none"}]),
    "ModelSpec.gates": ("Acceptance thresholds: a variant failing one is never deployed.",
                        {"minAccuracy": 0.9, "maxSize": "64KiB"}),
    "ModelSpec.split": ("Whether and where to split the model between a device and a tail worker.",
                        {"policy": "auto"}),
    "Architecture.preset": ("mlp, cnn1d, cnn2d or dscnn (depthwise-separable CNN); or set entryPoint.", "cnn2d"),
    "Architecture.entryPoint": ("`module:function` in a module next to the spec file, returning a tf-keras model; "
                                "runs only when the controller allows repository code.", "net:build"),
    "Architecture.units": (None, [32, 32]),
    "Architecture.kernelSize": ("Convolution kernel size (cnn presets).", 3),
    "Architecture.dropout": ("Dropout rate after each hidden block (0: none).", 0.1),
    "Training.epochs": ("Most epochs to train (early stopping may end sooner).", 30),
    "Training.batchSize": ("Samples per gradient step.", 32),
    "Training.learningRate": ("Optimizer learning rate.", 0.001),
    "Training.optimizer": ("adam, sgd or rmsprop.", "adam"),
    "Training.seed": ("Seed of weights and shuffling: the same seed trains the same model.", 7),
    "Training.earlyStopping": ("Stop when `monitor` has not improved for `patience` epochs; keep the best weights.",
                               {"monitor": "val_loss", "patience": 5}),
    "EarlyStopping.monitor": ("The validation figure watched.", "val_loss"),
    "EarlyStopping.patience": ("Epochs without improvement before stopping.", 5),
    "Variant.name": ("Name of the variant (fleets may pin it).", "int8-pruned"),
    "Variant.quantization": ("int8 (full integer), float16, dynamic (int8 weights) or none (float32).", "int8"),
    "Variant.pruning": ("Prune weights to a sparsity before converting.", {"sparsity": 0.5, "epochs": 2}),
    "Variant.clustering": ("Cluster weights into a few shared values before converting.", {"clusters": 16}),
    "Variant.qat": (None, False),
    "Variant.compression": ("On-device weight compression with TFLM's LUT compressor (TFLM boards only; needs "
                            "clustering to at most 2^bits values and int8).", {"lut": {"bits": 4}}),
    "Compression.lut": ("Lookup-table compression: per-channel value tables and bit-packed indices, decoded by "
                        "TFLM's DECODE operator.", {"bits": 4}),
    "LutCompression.bits": (None, 4),
    "Variant.qatEpochs": ("Quantization-aware training epochs (with qat: true).", 2),
    "Pruning.sparsity": (None, 0.5),
    "Pruning.epochs": (None, 2),
    "Clustering.clusters": ("Distinct weight values per layer.", 16),
    "Clustering.epochs": (None, 1),
    "Gates.minAccuracy": ("Lowest test accuracy measured on TFLM (classification).", 0.9),
    "Gates.maxAccuracyDrop": (None, 0.02),
    "Gates.maxMAE": ("Largest test mean absolute error (regression).", 0.15),
    "Gates.maxSize": ("Largest .tflite model.", "64KiB"),
    "Gates.maxArena": ("Largest TFLM tensor arena.", "16KiB"),
    "SplitPolicy.policy": ("never, auto (split only when the whole model does not fit a board) or at (after "
                           "the layer named in `at`).", "auto"),
    "SplitPolicy.at": (None, "dense_1"),
    "SplitPolicy.objective": ("What the split minimizes: latency or device energy.", "latency"),
    "SplitPolicy.firmwareReserve": (None, "64KiB"),
    # --- Fleet ----------------------------------------------------------------------------------
    "FleetSpec.model": ("The Model the members run.", "digits"),
    "FleetSpec.variant": (None, "int8"),
    "FleetSpec.selector": ("Which devices are members.", {"boards": ["rpi4"], "matchLabels": {"site": "lab"}}),
    "FleetSpec.priority": (None, 10),
    "FleetSpec.link": ("The devices' link to the tail worker, for split models.",
                       {"bandwidth": "250kB", "latencyMs": 20}),
    "FleetSpec.rollout": ("How an update goes out: canary, batches, pauses, failure threshold.",
                          {"canary": 1, "batchSize": "25%", "failureThreshold": 1}),
    "FleetSpec.healthCheck": ("What a device checks before it reports an update healthy.", {"probeInference": True}),
    "FleetSpec.collect": ("Ask members to record sensor windows for a collected Dataset.",
                          {"sensor": "accel", "rateHz": 50, "durationSeconds": 60}),
    "FleetSpec.paused": ("Hold the rollout where it is (as `origami rollout pause`).", False),
    "Selector.matchLabels": ("Labels a device must report in its hello, all of them.", {"site": "lab"}),
    "Selector.boards": (None, ["rpi4", "nano33ble"]),
    "Link.bandwidth": (None, "250kB"),
    "Link.latencyMs": ("One-way latency of a message, in milliseconds.", 20),
    "Rollout.canary": ("Members that get the update first, alone (a count or a percentage).", 1),
    "Rollout.batchSize": ("Members updated per step after the canary (a count or a percentage).", "25%"),
    "Rollout.maxUnavailable": ("Members that may be updating or failed at once (a count or a percentage).", "10%"),
    "Rollout.pauseSeconds": ("Wait between steps once a step's members are updated.", 60),
    "Rollout.failureThreshold": ("Failed members that halt the rollout and roll it back (a count or a percentage).",
                                 1),
    "Rollout.completion": (None, "100%"),
    "Rollout.deviceTimeoutSeconds": ("How long a member may take to report the update before it counts as failed.",
                                     300),
    "HealthCheck.probeInference": ("Run one inference on the new model before reporting healthy.", True),
    "HealthCheck.maxLatencyMs": ("Slowest acceptable probe inference, in milliseconds.", 50),
    "Collect.sensor": ("Sensor to record.", "accel"),
    "Collect.rateHz": ("Readings per second.", 50),
    "Collect.durationSeconds": ("How long each member records.", 60),
    "Collect.label": ("Label given to every recorded window (none: label later).", "shake"),
    "Collect.session": ("Session name tagging the windows (to label or export them together).", "lab-2026-12-04"),
    # --- DeviceProfile --------------------------------------------------------------------------
    "DeviceProfileSpec.board": (None, "Arduino Nano 33 BLE Sense"),
    "DeviceProfileSpec.family": ("mcu (firmware with TFLM) or linux (the agent with LiteRT).", "mcu"),
    "DeviceProfileSpec.cpu": ("Processor core.", "Cortex-M4F"),
    "DeviceProfileSpec.cores": ("CPU cores.", 1),
    "DeviceProfileSpec.clockMHz": ("CPU clock in MHz.", 64),
    "DeviceProfileSpec.ram": (None, "256KiB"),
    "DeviceProfileSpec.flash": (None, "1MiB"),
    "DeviceProfileSpec.runtime": ("Inference runtime: tflm (microcontrollers) or litert (Linux).", "tflm"),
    "DeviceProfileSpec.macsPerSecond": (None, 20_000_000),
    "DeviceProfileSpec.accelerators": ("Accelerators the runtime may use.", ["cmsis-nn"]),
    "DeviceProfileSpec.transports": ("How the board talks to the controller (serial through a gateway, or IP).",
                                     ["usb-serial"]),
    "DeviceProfileSpec.flasher": (None, "arduino-cli upload -p {port} --input-file {firmware}"),
    "DeviceProfileSpec.usb": ("USB vendor/product ids the serial gateway recognizes the board by.",
                              [{"vid": 0x2341, "pid": 0x805A}]),
    "UsbId.vid": ("USB vendor id.", 0x2341),
    "UsbId.pid": ("USB product id.", 0x805A),
}

_ACRONYMS = {"api": "API", "qat": "QAT", "mhz": "MHz", "hz": "Hz", "mae": "MAE", "macs": "MACs", "usb": "USB",
             "id": "ID", "ms": "(ms)"}


def human_title(name: str) -> str:
    """`batchSize` -> `Batch size`, `maxMAE` -> `Max MAE`, `clockMHz` -> `Clock MHz`."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", name).split()
    shown = [_ACRONYMS.get(w.lower(), w if w.isupper() and len(w) > 1 else w.lower()) for w in words]
    text = " ".join(shown)
    return text[:1].upper() + text[1:]


def field_doc(model: type, field: str) -> tuple[str | None, Any] | None:
    """(description, example) of `model.field`, looked up along the class hierarchy."""
    for cls in model.__mro__:
        doc = FIELD_DOCS.get(f"{cls.__name__}.{field}")
        if doc is not None:
            return doc
    return None


def document_schema(schema: dict[str, Any], model: type) -> None:
    """pydantic's `json_schema_extra` hook: fill in each property's description and example."""
    for name, prop in schema.get("properties", {}).items():
        prop.setdefault("title", human_title(name))  # pydantic gives none to some (a `$ref` to a model)
        doc = field_doc(model, name)
        if doc is None:
            continue
        description, example = doc
        if description and not prop.get("description"):
            prop["description"] = description
        prop.setdefault("examples", [example])
