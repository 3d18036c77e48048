"""The reconciler: desired-state graph per commit (`graph`), rollout decisions (`rollout`,
`membership`, `strategy`), and the level-triggered loop that applies them (`loop`)."""
