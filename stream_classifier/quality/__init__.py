"""Label quality: labeled evaluation sets found offline, and the scoring levers measured on them."""
