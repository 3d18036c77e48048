#pragma once
#include "FreeRTOS.h"
#ifdef __cplusplus
extern "C"
#endif
void vTaskDelay(const TickType_t ticks);
