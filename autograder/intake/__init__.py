"""Intake: reading what students hand in, safely (archives, the bounded walker, the import scan),
and the atomic writes every output goes through."""
