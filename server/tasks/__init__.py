"""Tasks (志愿红): invitations in waves, the volunteer who accepts, check-in/out and hours."""
