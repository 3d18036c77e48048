"""`origami gateway`: microcontrollers on USB serial bridged to MQTT. One module per concern: `usb`
(which board is on which port), `serial_link` (frames to and from one board), `flashing` (the board's
flasher), `bridge` (protocol v1 on the boards' behalf)."""
from device.gateway.bridge import Gateway
from device.gateway.flashing import flash_command, flash_firmware
from device.gateway.serial_link import BoardLink, TransferOutcome
from device.gateway.usb import DetectedPort, detect_ports, match_usb

__all__ = ["BoardLink", "DetectedPort", "Gateway", "TransferOutcome", "detect_ports", "flash_command",
           "flash_firmware", "match_usb"]
