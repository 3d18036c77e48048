"""Notifications: what the controller tells the outside world about commits and rollouts (generic
JSON webhooks, Slack-compatible webhooks, GitHub commit statuses), configured by the operator."""
