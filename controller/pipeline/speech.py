"""The `speech` generator: keywords spoken by espeak-ng, made into 1 s, 16 kHz clips with seeded variety.

Why a generated source rather than a script that writes WAVs into the spec repository: the spec then
holds a few lines instead of megabytes of audio, the stage key covers it (the spec plus espeak-ng's
version), and the clips are made inside the build worker's limits like every other dataset.

Every random choice (voice, variant, speed, pitch, amplitude, gain, time shift, noise colour and
level) comes from one `numpy.random.default_rng(seed)` drawn in a fixed order, and espeak-ng is
deterministic for the same arguments, so the same spec gives the same bytes (and snapshot digest) on
the same espeak-ng version; its version is part of the dataset's stage key.

espeak-ng is a host program run on spec input, so: words are lowercase letters only (checked by the
spec and again here), passed as one argument of an argument list (no shell), one word per run, each
run bounded in time and in the audio it may return; the number of runs is the spec's sample count,
which the dataset budget bounds before anything runs.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import wave
from functools import lru_cache

import numpy as np

from specs.errors import StageError
from specs.v1alpha1.dataset import SPEECH_CLIP
from specs.v1alpha1.dataset import SPEECH_SAMPLE_RATE
from specs.v1alpha1.dataset import SPEECH_SILENCE
from specs.v1alpha1.dataset import SPEECH_UNKNOWN
from specs.v1alpha1.dataset import SpeechSource

ESPEAK = "espeak-ng"
ESPEAK_RATE = 22_050            # espeak-ng's fixed output rate
RUN_TIMEOUT_S = 10.0            # one word takes ~12 ms; a stuck run is killed, not waited for
MAX_WORD_SECONDS = 4            # audio one run may return before it is refused
_WORD = re.compile(r"[a-z]{1,20}")

# English voices of espeak-ng's own data (not MBROLA, which is a separate package), and voice
# variants (!v): together 8 accents x 16 timbres.
VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd", "en-029",
          "en-us-nyc")
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2", "klatt3",
            "croak")
SPEED_WPM = (110, 210)          # espeak-ng -s
PITCH = (20, 80)                # espeak-ng -p (0-99)
AMPLITUDE = (60, 140)           # espeak-ng -a (0-200)
GAIN = (0.25, 0.9)              # peak of the word in the clip, of full scale
NOISES = ("white", "pink", "brown")


@lru_cache(maxsize=1)
def espeak_version() -> str:
    """espeak-ng's version ("1.51"), or "absent": part of the dataset stage key, since it shapes the audio."""
    if shutil.which(ESPEAK) is None:
        return "absent"
    try:
        out = subprocess.run([ESPEAK, "--version"], capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
                             stdin=subprocess.DEVNULL, env=_env()).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "absent"
    found = re.search(r"text-to-speech:\s*([\w.\-]+)", out)  # the line also names a host path: not kept
    return found.group(1) if found else "unknown"


def _env() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}


def synthesise(word: str, voice: str, variant: str, speed: int, pitch: int, amplitude: int, workdir: str) -> np.ndarray:
    """One word spoken by espeak-ng, as float32 samples at 22,050 Hz."""
    if not _WORD.fullmatch(word) or voice not in VOICES or variant not in VARIANTS:
        raise StageError(f"speech generator: refused to synthesise {word!r:.30} (letters a-z only)")
    path = os.path.join(workdir, "word.wav")
    command = [ESPEAK, "-v", f"{voice}+{variant}", "-s", str(int(speed)), "-p", str(int(pitch)),
               "-a", str(int(amplitude)), "-w", path, word]
    try:
        done = subprocess.run(command, capture_output=True, timeout=RUN_TIMEOUT_S, stdin=subprocess.DEVNULL,
                              env=_env(), cwd=workdir)
    except FileNotFoundError:
        raise StageError("speech generator: espeak-ng is not installed (apt-get install espeak-ng)") from None
    except subprocess.TimeoutExpired:
        raise StageError(f"speech generator: espeak-ng took over {RUN_TIMEOUT_S:g} s for {word!r}") from None
    if done.returncode != 0:
        raise StageError(f"speech generator: espeak-ng failed on {word!r} with voice {voice}+{variant} "
                         f"(exit {done.returncode})")
    try:
        with wave.open(path) as w:
            frames = w.getnframes()
            if w.getsampwidth() != 2 or w.getnchannels() != 1 or frames > MAX_WORD_SECONDS * w.getframerate():
                raise StageError(f"speech generator: espeak-ng returned unexpected audio for {word!r}")
            data = w.readframes(frames)
    except (wave.Error, EOFError, OSError):
        raise StageError(f"speech generator: espeak-ng wrote no readable WAV for {word!r}") from None
    finally:
        if os.path.exists(path):
            os.unlink(path)
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


def resample(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Band-limited resampling through the FFT (numpy only, deterministic)."""
    if rate_in == rate_out or len(audio) == 0:
        return audio.astype(np.float32)
    n_out = int(round(len(audio) * rate_out / rate_in))
    spectrum = np.fft.rfft(audio.astype(np.float64))
    keep = min(len(spectrum), n_out // 2 + 1)
    return (np.fft.irfft(spectrum[:keep], n_out) * (n_out / len(audio))).astype(np.float32)


def trim(audio: np.ndarray, threshold: float = 0.02) -> np.ndarray:
    """The audio between its first and last sample above `threshold` of its peak."""
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    loud = np.flatnonzero(np.abs(audio) > threshold * peak) if peak > 0 else np.array([], dtype=int)
    return audio[loud[0]:loud[-1] + 1] if len(loud) else audio[:0]


def noise(rng: np.random.Generator, colour: str, length: int) -> np.ndarray:
    """Unit-peak noise: white, pink (1/f power) or brown (1/f² power), shaped in the frequency domain."""
    white = rng.standard_normal(length)
    if colour != "white":
        spectrum = np.fft.rfft(white)
        f = np.arange(len(spectrum), dtype=np.float64)
        f[0] = 1.0
        spectrum /= np.sqrt(f) if colour == "pink" else f
        white = np.fft.irfft(spectrum, length)
    return white / max(float(np.max(np.abs(white))), 1e-9)


def place(word: np.ndarray, rng: np.random.Generator, shift: int, clip: int = SPEECH_CLIP) -> np.ndarray:
    """The word centred in a clip, shifted by up to ±`shift` samples (clamped inside the clip)."""
    out = np.zeros(clip, dtype=np.float32)
    if len(word) > clip:  # a very slow long word: keep its middle second
        start = (len(word) - clip) // 2
        word = word[start:start + clip]
    offset = (clip - len(word)) // 2 + int(rng.integers(-shift, shift + 1))
    offset = min(max(offset, 0), clip - len(word))
    out[offset:offset + len(word)] = word
    return out


def _to_pcm(clip: np.ndarray) -> np.ndarray:
    """What a 16-bit microphone would give: clipped and quantized, back as float32 in [-1, 1)."""
    return (np.clip(np.round(clip * 32768.0), -32768, 32767) / 32768.0).astype(np.float32)


def _spoken(word: str, rng: np.random.Generator, source: SpeechSource, workdir: str) -> np.ndarray:
    voice = VOICES[int(rng.integers(len(VOICES)))]
    variant = VARIANTS[int(rng.integers(len(VARIANTS)))]
    speed, pitch, amplitude = (int(rng.integers(lo, hi + 1)) for lo, hi in (SPEED_WPM, PITCH, AMPLITUDE))
    gain = rng.uniform(*GAIN)
    audio = trim(resample(synthesise(word, voice, variant, speed, pitch, amplitude, workdir), ESPEAK_RATE,
                          SPEECH_SAMPLE_RATE))
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    clip = place(audio * (gain / peak) if peak > 0 else audio, rng, source.shiftMs * SPEECH_SAMPLE_RATE // 1000)
    return clip + _background(rng, source.noise * gain)


def _background(rng: np.random.Generator, level: float) -> np.ndarray:
    colour = NOISES[int(rng.integers(len(NOISES)))]
    return (rng.uniform(0.0, level) * noise(rng, colour, SPEECH_CLIP)).astype(np.float32)


def speech(source: SpeechSource) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(clips (n, 16000, 1) float32, labels, classes): `utterancesPerWord` clips of every class."""
    rng = np.random.default_rng(source.seed)
    classes = source.classes
    x = np.empty((source.samples, SPEECH_CLIP, 1), dtype=np.float32)
    y = np.repeat(np.arange(len(classes), dtype=np.int64), source.utterancesPerWord)
    with tempfile.TemporaryDirectory(prefix="origami-speech-") as workdir:
        for i, label in enumerate(y):
            name = classes[label]
            if name == SPEECH_SILENCE:  # background only, at up to the level words get
                clip = _background(rng, max(source.noise, 0.01) * GAIN[1])
            else:
                word = (source.unknownWords[int(rng.integers(len(source.unknownWords)))]
                        if name == SPEECH_UNKNOWN else name)
                clip = _spoken(word, rng, source, workdir)
            x[i, :, 0] = _to_pcm(clip)
    return x, y, classes
