#pragma once
#include <string>
namespace coralmicro {
std::string GetSerialNumber();
}  // namespace coralmicro
