"""The scheduler: placement narrows hosts by resources, filters by everything else, weighers
rank the rest — and every decision is recorded, host by host."""
