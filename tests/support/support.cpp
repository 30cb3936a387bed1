// Anchor for the support library; helpers are header-only so far.
