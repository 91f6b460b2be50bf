"""The product's pages: server-rendered overview, web analytics, user pages and project settings."""
