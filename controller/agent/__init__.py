"""Device-side agents: the Linux device agent, the serial gateway and the virtual devices."""
