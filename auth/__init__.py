"""Identity and access: logins, real-name binding, JWT sessions, family authorisation,
agent accounts and service keys."""
