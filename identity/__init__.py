"""Who may do what: regions, care providers, users with roles, password hashing, API tokens,
sessions, CSRF and login throttling. Login methods are pluggable (password now; OIDC/SAML later)."""
