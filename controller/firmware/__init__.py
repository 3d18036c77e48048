"""Firmware: render a complete TFLM project (or a LiteRT bundle) for a board from a .tflite."""
