"""leaderboards feature."""
