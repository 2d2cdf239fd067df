"""Pure Block Kit builders: escaping, date tokens and Slack's size limits are handled here, once."""
