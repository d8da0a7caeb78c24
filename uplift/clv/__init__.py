"""Customer lifetime value uplift from survival curves with discounting."""
