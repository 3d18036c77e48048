// Reset and fault handlers for a bare-metal Cortex-M image on QEMU's MPS2 boards. Part of Origami's
// firmware templates; copied unchanged into each rendered project.
#include <stdint.h>

#include "origami_uart.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
extern void (*__init_array_start[])(void);
extern void (*__init_array_end[])(void);
int main(void);

// ARM semihosting SYS_EXIT: QEMU (with -semihosting-config enable=on) exits with 0 or 1, so the
// runner does not have to wait for a timeout to know the image finished.
void origami_exit(int failed) {
  register uint32_t op __asm__("r0") = 0x18;
  register uint32_t reason __asm__("r1") = failed ? 0x20024u : 0x20026u;
  __asm__ volatile("bkpt 0xAB" : : "r"(op), "r"(reason) : "memory");
  for (;;) {
  }
}

void Reset_Handler(void) {
#if defined(__ARM_FP)
  // The FPU is off after reset; hard-float code faults on its first VFP instruction otherwise.
  *(volatile uint32_t*)0xE000ED88u |= (0xFu << 20);
  __asm__ volatile("dsb\n isb" ::: "memory");
#endif
#if defined(__ARM_ARCH_6M__)
  // An M0+ image on a Cortex-M3 machine: trap unaligned accesses as the M0+ always does (CCR is
  // read-only, UNALIGN_TRP set, on ARMv6-M, so this write changes nothing on a real M0+).
  *(volatile uint32_t*)0xE000ED14u |= 1u << 3;
#endif
  for (uint32_t *src = &_sidata, *dst = &_sdata; dst < &_edata;) *dst++ = *src++;
  for (uint32_t* dst = &_sbss; dst < &_ebss;) *dst++ = 0;
  for (void (**ctor)(void) = __init_array_start; ctor < __init_array_end; ++ctor) (*ctor)();
  origami_exit(main() != 0);
}

// A fault ends a test image; an image with a device core overrides this to reset the board
// (a crash during a trial boot then rolls the new model back).
__attribute__((weak)) void origami_fault(void) {
  origami_uart_write("origami-qemu error=fault\n");
  origami_exit(1);
}

static void Fault_Handler(void) { origami_fault(); }

__attribute__((weak)) void SysTick_Handler(void) {}

// What crt0/crti would define: static objects register destructors (never run here) against it.
void* __dso_handle = 0;

__attribute__((section(".isr_vector"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))(&_estack), Reset_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
    Fault_Handler, Fault_Handler, 0, 0, 0, 0, Fault_Handler, Fault_Handler, 0, Fault_Handler,
    SysTick_Handler,
};
