// Stub: the Arduino_TensorFlowLite library header.
