"""The Trigger.dev REST client: nothing in this package knows about Slack."""
