"""Slack: the bolt app, its listeners, Block Kit and mrkdwn escaping."""
