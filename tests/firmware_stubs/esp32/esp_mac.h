#pragma once
#include <stdint.h>
int esp_efuse_mac_get_default(uint8_t* mac);
