"""`origami gateway`: microcontrollers on USB serial or Bluetooth LE bridged to MQTT. One module per
concern: `usb` (which board is on which port), `serial_link` (frames to and from one board, over any
byte stream), `ble_link` (a BLE board's GATT characteristics as such a stream, loading Bumble only
when used), `flashing` (the board's flasher), `bridge` (protocol v1 on the boards' behalf)."""
from device.gateway.bridge import Gateway
from device.gateway.flashing import flash_command
from device.gateway.flashing import flash_firmware
from device.gateway.serial_link import BoardLink
from device.gateway.serial_link import TransferOutcome
from device.gateway.usb import DetectedPort
from device.gateway.usb import detect_ports
from device.gateway.usb import match_usb

__all__ = ["BoardLink", "DetectedPort", "Gateway", "TransferOutcome", "detect_ports", "flash_command",
           "flash_firmware", "match_usb"]
