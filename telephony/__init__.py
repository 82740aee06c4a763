"""The PBX edge: the ARI client, the private Asterisk 22 root and its generated configuration,
prompt rendering (espeak-ng + sox) and the leader lease that decides which instance owns the Stasis app."""
