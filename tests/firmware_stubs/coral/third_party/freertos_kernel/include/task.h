#pragma once
#include "FreeRTOS.h"
extern "C" void vTaskDelay(const TickType_t ticks);
