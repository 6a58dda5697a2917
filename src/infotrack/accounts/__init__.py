"""Account administration over HTTP: the console's 账号 page."""
