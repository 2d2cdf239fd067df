"""The Slack side: one module per surface, registered from `bot.slack.app`."""
