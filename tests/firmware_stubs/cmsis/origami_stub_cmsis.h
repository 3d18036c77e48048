// Stub: the CMSIS core registers the HALs use (DWT cycle counter, debug enable, system reset).
#pragma once
#include <stdint.h>
typedef struct { volatile uint32_t CTRL; volatile uint32_t CYCCNT; } DWT_Type;
typedef struct { volatile uint32_t DEMCR; } CoreDebug_Type;
#define DWT ((DWT_Type*)0xE0001000u)
#define CoreDebug ((CoreDebug_Type*)0xE000EDFCu)
#define CoreDebug_DEMCR_TRCENA_Msk (1u << 24)
#define DWT_CTRL_CYCCNTENA_Msk 1u
#ifdef __cplusplus
extern "C"
#endif
void NVIC_SystemReset(void);
