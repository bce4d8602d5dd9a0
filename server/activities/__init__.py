"""Group volunteer activities (志愿活动): publish, sign up (with a waitlist), check in, hours."""
