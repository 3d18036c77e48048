"""The device side: the Linux device agent, the serial gateway for microcontrollers, install slots,
health checks, sensor capture, the split head runtime and the virtual boards used by tests and the
demo. Depends on `specs`, `wire` and `runtimes`, never on the controller."""
