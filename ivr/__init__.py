"""Interactive voice response: regional voice menus run on the Stasis app.
For now the greeting handler that answers, plays the Swedish greeting and hangs up."""
