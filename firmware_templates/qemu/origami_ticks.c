// A free-running 32-bit counter from the MPS2's CMSDK APB timer 0 (25 MHz, counting down from
// 0xFFFFFFFF and reloading): no interrupt, so no wrap to count, and differences of two reads are
// exact modulo 2^32. QEMU clocks the timer from its virtual clock, which under `-icount shift=N`
// advances 2^N ns per executed instruction, so the host turns ticks into an instruction count
// (controller/firmware/qemu.py: instructions_from_ticks). (SysTick's 24 bits wrap every ~10 M
// instructions at that rate, and QEMU may show the reloaded value before the wrap interrupt.)
// Part of Origami's firmware templates; copied unchanged into each rendered project.
#include "origami_ticks.h"

#define TIMER0_CTRL (*(volatile uint32_t*)0x40000000u)
#define TIMER0_VALUE (*(volatile uint32_t*)0x40000004u)
#define TIMER0_RELOAD (*(volatile uint32_t*)0x40000008u)

void origami_ticks_start(void) {
  TIMER0_RELOAD = 0xFFFFFFFFu;
  TIMER0_VALUE = 0xFFFFFFFFu;
  TIMER0_CTRL = 0x1u;  // enabled, no interrupt
}

uint32_t origami_ticks(void) { return 0xFFFFFFFFu - TIMER0_VALUE; }
