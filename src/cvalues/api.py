"""The public Python API (filled in by the Task/Run core); the CLI is a thin layer over it."""
