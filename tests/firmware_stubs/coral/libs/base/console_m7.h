// Stub of coralmicro's libs/base/console_m7.h.
#pragma once
namespace coralmicro {
class ConsoleM7 {
 public:
  static ConsoleM7* GetSingleton();
  void Write(const char* buffer, int size);
  int Read(char* buffer, int size);
};
}  // namespace coralmicro
