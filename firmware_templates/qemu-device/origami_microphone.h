// The emulated board's microphone: 16 kHz int16 PCM that the host appends to a file in the board's
// folder, streamed as SAMPLES frames of one second each (docs/serial.md, docs/firmware.md).
#ifndef ORIGAMI_MICROPHONE_H_
#define ORIGAMI_MICROPHONE_H_

#ifdef __cplusplus
extern "C" {
#endif

// Called from the main loop: at most every 0.1 s of the board's timer it looks at the file and sends
// every complete window not sent yet.
void origami_microphone_poll(void);

#ifdef __cplusplus
}
#endif

#endif  // ORIGAMI_MICROPHONE_H_
