"""Planning (pure): the desired-state graph of one commit, fleet membership, and the plan that
`origami plan` prints and the reconcile loop executes."""
