"""Several teams on one controller: tenants (their own specs, devices, keys, artifacts and limits),
roles (viewer, operator, admin) and the checks that keep each tenant to its own objects."""
