// ARM semihosting calls into QEMU (`-semihosting-config enable=on`): the emulated board's flash file,
// device id and microphone file live on the host. Part of Origami's QEMU HAL.
#ifndef ORIGAMI_SEMIHOST_H_
#define ORIGAMI_SEMIHOST_H_

#include <stdint.h>

#define SYS_OPEN 0x01u
#define SYS_WRITE 0x05u
#define SYS_READ 0x06u   // returns the number of bytes NOT read
#define SYS_SEEK 0x0Au
#define SYS_FLEN 0x0Cu
#define SYS_GET_CMDLINE 0x15u

#ifdef __cplusplus
extern "C" {
#endif

int origami_qemu_semihost(uint32_t op, void* block);

#ifdef __cplusplus
}
#endif

#endif  // ORIGAMI_SEMIHOST_H_
