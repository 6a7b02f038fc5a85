"""Hidden tests: instructor mode only; never shipped in the handout."""
