"""Virtual microphones: windows of 16 kHz int16 PCM replaying held-out utterances spoken in a room.

A device has no speech synthesiser, and the device layer may not import the controller's speech
generator, so the room is given a bank of clips (`Utterances`: float audio in [-1, 1) with the word
of each) made elsewhere: by the test or demo harness with the speech generator and a seed other
than the training set's, so the microphones hear utterances the model never saw. Each microphone
adds its own gain, noise floor and time shift (seeded by the device id, so a device replays the
same audio after a restart), then quantizes to int16 as its ADC would.

What a microphone hears: the campaign's label when the bank has that word; otherwise what the
room's speaker is saying (`ROOM.say("yes")`: a person asked to repeat one word during an
unlabelled session, which an operator then labels with `origami samples label`); with nobody
speaking, random clips of the bank (the chatter of a room).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from device.signals import device_seed
from specs.errors import UsageError
from specs.v1alpha1.collection import PCM16_FULL_SCALE


@dataclass(frozen=True)
class Utterances:
    """Clips (n, samples) float32 in [-1, 1) at `rate_hz`, and the word of each."""

    clips: np.ndarray
    words: tuple[str, ...]
    rate_hz: float = 16_000.0

    def __post_init__(self) -> None:
        if self.clips.ndim != 2 or len(self.clips) != len(self.words) or not len(self.words):
            raise UsageError(f"utterances: need (n, samples) clips and n words, not {self.clips.shape} "
                             f"and {len(self.words)}")

    @classmethod
    def of(cls, clips: np.ndarray, labels, classes=None, rate_hz: float = 16_000.0) -> Utterances:
        """From a dataset's arrays: clips (n, samples[, 1]) and labels (indices into `classes`, or names)."""
        words = tuple(str(classes[int(i)]) if classes is not None else str(i) for i in labels)
        return cls(np.asarray(clips, dtype=np.float32).reshape(len(words), -1), words, rate_hz)

    @classmethod
    def load(cls, path: str | Path) -> Utterances:
        """An NPZ with `clips` (n, samples) float32, `words` (n,) strings and `rate_hz`."""
        with np.load(path, allow_pickle=False) as data:
            return cls(data["clips"].astype(np.float32), tuple(str(w) for w in data["words"]),
                       float(data["rate_hz"]))

    def save(self, path: str | Path) -> None:
        np.savez(path, clips=self.clips, words=np.array(self.words), rate_hz=np.float64(self.rate_hz))

    def of_word(self, word: str) -> np.ndarray:
        return np.flatnonzero(np.array(self.words) == word)


class Room:
    """Where the virtual microphones of this process listen: the bank they replay, who says what."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.utterances: Utterances | None = None
        self.speaking: str | None = None

    def play(self, utterances: Utterances | None) -> None:
        with self._lock:
            self.utterances = utterances

    def say(self, word: str | None) -> None:
        """Someone repeats `word` near every microphone (None: nobody in particular)."""
        with self._lock:
            self.speaking = word

    def heard(self) -> tuple[Utterances, str | None]:
        with self._lock:
            if self.utterances is None:
                raise UsageError("the virtual microphones have no utterances to replay; give the room a bank "
                                 "first (device.microphone.ROOM.play(Utterances...))")
            return self.utterances, self.speaking


ROOM = Room()


class Microphone:
    """One device's microphone: mono int16 windows of `window` samples."""

    sensor = "microphone"
    dtype = "int16"

    def __init__(self, device_id: str, rate_hz: float = 16_000.0, room: Room = ROOM) -> None:
        self.rate_hz = rate_hz
        self.room = room
        self._rng = np.random.default_rng(device_seed(device_id, "microphone"))
        self.gain = float(self._rng.uniform(0.7, 1.2))           # sensitivity of this capsule and preamp
        self.noise_floor = float(self._rng.uniform(0.001, 0.006))  # self-noise, of full scale
        self.max_shift = int(0.08 * rate_hz)                      # the speaker is not always on time

    def shape(self, window: int) -> list[int]:
        return [window, 1]

    def window(self, window: int, label: str | None) -> np.ndarray:
        bank, speaking = self.room.heard()
        if abs(bank.rate_hz - self.rate_hz) > 1e-6:
            raise UsageError(f"the room's utterances are at {bank.rate_hz:g} Hz; this microphone records at "
                             f"{self.rate_hz:g} Hz")
        word = label if label is not None and len(bank.of_word(label)) else speaking
        pool = bank.of_word(word) if word is not None else np.arange(len(bank.words))
        if not len(pool):
            pool = np.arange(len(bank.words))
        return self.record(bank.clips[int(self._rng.choice(pool))], window)

    def stream(self, seconds: int) -> bytes:
        """`seconds` one-second windows of the room as little-endian int16 PCM: what reaches an emulated
        board's microphone file (`QemuBoard.hear`)."""
        window = int(self.rate_hz)
        return np.concatenate([self.window(window, None)[:, 0] for _ in range(seconds)]).astype("<i2").tobytes()

    def record(self, clip: np.ndarray, window: int) -> np.ndarray:
        """`clip` as this microphone hears it: fitted to `window`, shifted, amplified, noisy, int16."""
        audio = np.zeros(window, dtype=np.float64)
        n = min(window, len(clip))
        audio[:n] = clip[:n]
        shift = int(self._rng.integers(-self.max_shift, self.max_shift + 1))
        audio = np.roll(audio, shift)
        if shift > 0:                        # what rolled round the end is silence, not the word's tail
            audio[:shift] = 0.0
        elif shift < 0:
            audio[shift:] = 0.0
        audio = audio * self.gain + self.noise_floor * self._rng.standard_normal(window)
        return to_pcm16(audio)[:, None]


def to_pcm16(audio: np.ndarray) -> np.ndarray:
    """Float audio of full scale 1.0 as int16 PCM, clipped as an ADC clips."""
    return np.clip(np.round(np.asarray(audio, np.float64) * PCM16_FULL_SCALE), -32768, 32767).astype(np.int16)
