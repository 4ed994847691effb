"""The incident file (一事一档): the append-only, hash-chained log (`log`), the board folded from it (`board`) and the briefing documents (`briefing`)."""
