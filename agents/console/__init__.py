"""The live web console (``callradar console``): supervisors see every call ranked by risk,
agents their own call's transcript and prompts. See docs/console.md."""
