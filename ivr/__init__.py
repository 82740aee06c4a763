"""Interactive voice response: regional voice menus run on the Stasis app.
The menu model, its interpreter, the ARI and text executors, and the handover to routing."""
