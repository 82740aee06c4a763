"""Region and national configuration files (seed and export format) and their schema.
The database keeps the versioned truth; these files seed it."""
